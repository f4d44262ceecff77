"""The project's training command: ``python -m genlib.train <vae|gan|classifier> [options]``.

Each model module owns its options (``python -m genlib.train vae --help``); this file only
dispatches, so TensorFlow is imported by the module that trains, never here.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "vae": ("genlib.vae_train", "the variational autoencoder of the VAE page"),
    "gan": ("genlib.gan_train", "the GAN of the live-training page"),
    "classifier": ("genlib.classifier_train", "the judge CNN used by the evaluation figures"),
    "diffusion": ("genlib.diffusion_train", "the flow-matching model of the Diffusion page"),
}


def usage() -> str:
    lines = ["usage: python -m genlib.train <command> [options]", "", "commands:"]
    lines += [f"  {name:<11} {what}" for name, (_, what) in COMMANDS.items()]
    lines += ["", "Run a command with --help for its options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        module.cli(rest)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
