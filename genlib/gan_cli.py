"""``python -m genlib.train gan``: train a GAN from the command line, resumable.

Trains :class:`genlib.gan_train.GANTrainer` for ``--minutes`` (or ``--steps``), prints its
progress, saves a checkpoint atomically every ``--save-every`` minutes and at the end
(``genlib/weights/gan_<preset>.npz`` on the embedded sample); ``--resume`` continues that file,
``--init-from`` starts from another checkpoint with the same networks.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import time
from pathlib import Path

import numpy as np

from genlib import gan
from genlib.gan import PRESETS, RANGES

__all__ = ["cli"]


def cli(argv: list[str]) -> None:
    """``python -m genlib.train gan [--preset mlp] [--minutes M | --steps N] [...]``."""
    from genlib.data import load_mnist
    from genlib.gan_train import GANTrainer

    p = argparse.ArgumentParser(prog="python -m genlib.train gan",
                                description="Train the GAN of the live-training page and save a "
                                            "checkpoint (.npz + .json).")
    p.add_argument("--preset", choices=list(PRESETS), default="mlp")
    p.add_argument("--source", default="sample",
                   help="sample (default), keras, auto, or a path to an MNIST file")
    p.add_argument("--minutes", type=float, default=5.0, help="wall-clock training time")
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead")
    p.add_argument("--seed", type=int, default=0)
    for name in RANGES:
        kind = str if name in ("loss", "output") else int if name in gan.INTS else float
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    p.add_argument("--out", default=None, help="checkpoint path (.npz); default: "
                   "genlib/weights/gan_<preset>.npz for the sample, else the user cache")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint at --out (its weights, step, history; "
                        "settings given here override the saved ones)")
    p.add_argument("--init-from", default=None, help="start from this checkpoint (same networks: "
                   "e.g. a copy of a best preset's checkpoint, to try other settings on it)")
    p.add_argument("--save-every", type=float, default=5.0,
                   help="minutes between checkpoints while training (0: only at the end)")
    args = p.parse_args(argv)
    settings = {k: getattr(args, k) for k in RANGES if getattr(args, k) is not None}
    mnist = load_mnist(args.source)
    out = Path(args.out) if args.out else (
        gan.shipped_checkpoint_path(args.preset) if mnist.kind == "sample"
        else gan.user_checkpoint_path(args.preset, mnist.kind))
    if args.resume:
        trainer = GANTrainer.load(out, images=mnist.train.images, **settings)
        if trainer.preset != args.preset:
            raise SystemExit(f"{out} holds the {trainer.preset} preset, not {args.preset}")
        print(f"resuming the {args.preset} GAN from {out} at step {trainer.step:,}")
    elif args.init_from:
        try:
            trainer = GANTrainer.load(args.init_from, images=mnist.train.images,
                                      preset=args.preset, **settings)
        except ValueError as e:
            raise SystemExit(f"--init-from: {e}") from None
        print(f"starting from {args.init_from} (step {trainer.step:,})")
    else:
        trainer = GANTrainer(args.preset, args.seed, images=mnist.train.images, **settings)
    print(f"training the {args.preset} GAN on {len(mnist.train):,} digits of {mnist.source}")
    judge, judge_name = gan.load_judge(mnist.train.images, mnist.train.labels)
    earlier = trainer.saved_seconds if args.resume or args.init_from else 0.0
    started = ({"started_from": Path(args.init_from).name} if args.init_from else {})

    def save(seconds: float) -> np.ndarray:
        shares = gan.digit_shares(judge.predict(trainer.sample(1000, rng=args.seed).images))
        trainer.save(out, data_source=mnist.source, data_kind=mnist.kind,
                     train_seconds=round(earlier + seconds, 1),
                     steps_per_second=round(trainer.step / max(earlier + seconds, 1e-9)),
                     digit_shares=[round(float(s), 4) for s in shares], judge=judge_name,
                     date=_dt.date.today().isoformat(), **started)
        return shares

    t0 = time.perf_counter()
    deadline = t0 + args.minutes * 60
    next_save = t0 + args.save_every * 60 if args.save_every > 0 else float("inf")
    while True:
        if args.steps is not None:
            left = args.steps - trainer.step
            if left <= 0:
                break
            m = trainer.train(min(left, 500))
        else:
            if time.perf_counter() >= deadline:
                break
            m = trainer.train_for(min(5.0, max(deadline - time.perf_counter(), 0.01)))
        if len(m["step"]):
            print(f"step {trainer.step:>7}  D loss {m['d_loss'].mean():.3f}  "
                  f"G loss {m['g_loss'].mean():.3f}  D(x) {m['d_real'].mean():.2f}  "
                  f"D(G(z)) {m['d_fake'].mean():.2f}", flush=True)
        if time.perf_counter() >= next_save:  # atomic: an interrupted run keeps the last one
            save(time.perf_counter() - t0)
            print(f"checkpoint at step {trainer.step:,}: {out}", flush=True)
            next_save = time.perf_counter() + args.save_every * 60
    seconds = time.perf_counter() - t0
    shares = save(seconds)
    print(f"step {trainer.step:,} after {seconds:.0f} s here; smallest digit share "
          f"{shares.min():.1%} ({judge_name}); saved {out}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
