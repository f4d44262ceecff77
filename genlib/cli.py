"""The ``genlab`` command: run the app, train, score, sample (installed by ``pip install .``).

    genlab run [--port 8501] [--max-trainers N] [--preload] [streamlit options...]
    genlab train <vae|gan|classifier|diffusion> [options]     (= python -m genlib.train)
    genlab scoreboard [--csv] [options]                        (= python -m genlib.scoreboard)
    genlab sample MODEL [-n 64] [-o grid.png] [--seed S]       (any row of genlib.registry)

This module only parses and dispatches: ``import genlib.cli`` imports neither TensorFlow nor
Streamlit; each command imports what it needs when it runs. A bad argument ends in one line
saying what is wrong and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

MAX_TRAINERS_ENV = "GENLAB_MAX_TRAINERS"  # read by ui.gan_controller (the GAN page)


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2."""


def app_dir() -> Path:
    """The folder holding app.py, pages/, ui/ and .streamlit/: the checkout this genlib lives
    in, or the installed package ``genlab_app``."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "app.py").is_file() and (checkout / "pages").is_dir():
        return checkout
    spec = importlib.util.find_spec("genlab_app")  # finds it without running anything
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            if (Path(folder) / "app.py").is_file():
                return Path(folder)
    raise UsageError("the app's files (app.py, pages/) are not installed: reinstall genlab "
                     "with `pip install .` from a clone")


def whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``, or a one-line reason."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


positive_int, non_negative_int = whole_number(1), whole_number(0)


# ----------------------------------------------------------------------------- the commands


def run(args, extra: list[str]) -> int:
    """Start the app with `streamlit run` and the project's config (.streamlit/ beside
    app.py, which Streamlit reads as the script's own config)."""
    folder = app_dir()
    env = dict(os.environ)
    if args.max_trainers is not None:
        env[MAX_TRAINERS_ENV] = str(args.max_trainers)
    # --preload: the app's ui.preload runs Streamlit after starting the GAN page's warm-up
    # (TensorFlow's import, the step's compile) in the same process; it needs the app's
    # folder on the path, as Streamlit then puts it
    launcher = "streamlit"
    if args.preload:
        launcher = "ui.preload"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH"))
                                            if p)
    cmd = [sys.executable, "-m", launcher, "run", str(folder / "app.py"),
           "--server.port", str(args.port), "--server.address", args.address, *extra]
    if os.name == "posix":  # become the server: signals (Ctrl+C, a supervisor's) reach it
        os.execve(sys.executable, cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


def train(args, extra: list[str]) -> int:
    from genlib import train as training

    return training.main([args.family, *extra])


def scoreboard(args, extra: list[str]) -> int:
    from genlib import scoreboard as board

    argv = list(extra) + (["--csv"] if args.csv else [])
    try:
        board.cli(argv)
    except SystemExit as e:  # argparse's own exit (--help, a bad option)
        return e.code if isinstance(e.code, int) else 2
    except PermissionError as e:
        raise ValueError(f"cannot write {e.filename}: give --output PATH") from None
    return 0


def find_model(query: str) -> str:
    """A registry row by its name, case-insensitively; or by its preset when one row has it
    (``mlp``, ``dcgan_best``); or by a part of the name that names one row."""
    from genlib import registry

    names = list(registry.MODELS)
    exact = [n for n in names if n.lower() == query.strip().lower()]
    if exact:
        return exact[0]
    preset = [n for n in names
              if getattr(registry.MODELS[n].make, "preset", None) == query.strip().lower()]
    if len(preset) == 1:
        return preset[0]
    found = preset or ([n for n in names if query.strip().lower() in n.lower()]
                       if query.strip() else [])
    if len(found) == 1:
        return found[0]
    listing = "\n".join(f"  {n}" for n in names)
    if found:
        raise UsageError(f"{query!r} matches {len(found)} models ({'; '.join(found)}); "
                         f"be more specific. Models:\n{listing}")
    raise UsageError(f"no model {query!r}. Models:\n{listing}")


def sample(args, extra: list[str]) -> int:
    """Draw ``n`` digits from a registry model and write them as one PNG grid."""
    import numpy as np

    from genlib import images, registry
    from genlib.data import atomic_write, load_mnist
    from genlib.protocol import Samples, check_n_samples

    if args.list:
        print("\n".join(registry.MODELS))
        return 0
    if args.model is None:
        raise UsageError("give a MODEL (genlab sample --list names them)")
    name = find_model(args.model)
    n = check_n_samples(args.n)
    if n == 0:
        raise UsageError("-n must be at least 1")
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise UsageError(f"the output is a PNG image: {out} should end in .png")
    if not out.parent.is_dir():
        raise UsageError(f"no folder {out.parent} to write {out.name} in")
    spec = registry.MODELS[name]
    print(f"{name}: loading...", file=sys.stderr, flush=True)
    mnist = load_mnist(args.data)
    model = registry.load_model(name, mnist)
    rng = np.random.default_rng(args.seed)
    if model is None:  # the real held-out digits row
        pick = rng.choice(len(mnist.test.images), size=n, replace=n > len(mnist.test.images))
        drawn = Samples(mnist.test.images[pick], mnist.test.labels[pick])
    else:
        drawn = model.sample(n, rng=rng, **spec.sample_kwargs)
    grid = images.tile(drawn.images, n_cols=args.cols)
    atomic_write(out, images.to_png(grid, scale=args.scale))
    print(f"wrote {out} ({n} digits from {name!r}, seed {args.seed})")
    return 0


# ----------------------------------------------------------------------------- the parser


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="genlab", description="GenLab: see, teach and demo generative models on MNIST.",
        epilog="Run `genlab COMMAND --help` for a command's options.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="start the app (Streamlit, with GenLab's config)",
                       description="Start the app. Options after these are passed to "
                                   "`streamlit run` (e.g. --server.headless true).")
    p.add_argument("--port", type=positive_int, default=8501, help="default 8501")
    p.add_argument("--address", default="localhost",
                   help="the interface to listen on (0.0.0.0 for every one; default localhost)")
    p.add_argument("--max-trainers", type=non_negative_int, default=None, metavar="N",
                   help=f"GANs training at once in this server, past which a session gets the "
                        f"pretrained model (sets ${MAX_TRAINERS_ENV}; default 12)")
    p.add_argument("--preload", action="store_true",
                   help="import TensorFlow and compile the GAN's train step as the server "
                        "starts, not when a page first needs them (for a talk: the first "
                        "Play trains at full speed at once; ~900 MiB more from the start)")
    p.set_defaults(func=run, passthrough=True)

    from genlib.train import COMMANDS

    p = sub.add_parser("train", help="train a model (= python -m genlib.train)",
                       description="Train a model; its own options follow the family "
                                   "(genlab train gan --help).", add_help=False)
    p.add_argument("family", choices=list(COMMANDS), metavar="FAMILY",
                   help=f"one of: {', '.join(COMMANDS)}")
    p.set_defaults(func=train, passthrough=True)

    p = sub.add_parser("scoreboard", help="score every shipped model (= python -m "
                                          "genlib.scoreboard)",
                       description="Score every shipped model on the sample and write the table "
                                   "the Compare page opens with. Other options (--n, --seed, "
                                   "--output, --no-likelihood) are passed on.")
    p.add_argument("--csv", action="store_true", help="also print the table as CSV")
    p.set_defaults(func=scoreboard, passthrough=True)

    p = sub.add_parser("sample", help="draw digits from a model into a PNG grid",
                       description="Draw digits from any model of the scoreboard "
                                   "(genlib.registry) and save them as one PNG grid.")
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="a model's name or a unique part of it, e.g. 'GAN, MLP' or dcgan")
    p.add_argument("-n", type=positive_int, default=64, help="digits to draw (default 64)")
    p.add_argument("-o", "--output", default="grid.png", help="the PNG to write (grid.png)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="default 0")
    p.add_argument("--cols", type=positive_int, default=None, help="digits per row")
    p.add_argument("--scale", type=positive_int, default=2, help="pixels per pixel (2)")
    p.add_argument("--data", default="sample",
                   help="the digits fitted models learn from: sample, keras, auto or a path "
                        "(default sample)")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    p.set_defaults(func=sample, passthrough=False)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"] and (len(argv) == 1 or argv[1] in ("-h", "--help")):
        from genlib.train import usage  # the families and what each trains

        print(usage().replace("python -m genlib.train", "genlab train"))
        return 0 if len(argv) > 1 else 2
    ap = parser()
    args, extra = ap.parse_known_args(argv)
    if extra and not args.passthrough:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except UsageError as e:
        print(f"genlab {args.command}: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"genlab {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
