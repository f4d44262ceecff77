"""What the Diffusion page's knobs do, measured by the judge on the same seeds.

Each point draws ``n`` samples with one setting (the same seed for every point: the same
starting noises and the same asked-for digits, so only the knob changes) and scores them as
the scoreboard does (:func:`genlib.scoreboard.evaluate_samples`): class consistency, Naeem et
al.'s density (fidelity) and coverage (variety), the nearest-neighbour spread, the Frechet
distance to real held-out digits.

- Guidance scale (:data:`GUIDANCE_GRID`): more guidance, truer to the class (consistency up),
  less varied (coverage and spread down past a point).
- Steps (:data:`STEPS_GRID`, both samplers): Frechet distance falls fast over the first steps,
  then flattens; the stochastic sampler needs more steps than the deterministic one.

numpy only; no Streamlit (the page caches each point).
"""

from __future__ import annotations

import time

import numpy as np

from genlib import diffusion as df
from genlib import scoreboard

__all__ = ["GUIDANCE_GRID", "STEPS_GRID", "N_SAMPLES", "POINT_FIELDS", "measure_point",
           "sweep"]

GUIDANCE_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
STEPS_GRID = (1, 2, 3, 5, 10, 20, 50, 100, 200)
N_SAMPLES = 500  # per point: a few tenths of a second with the latent preset
POINT_FIELDS = ("consistency", "coverage", "density", "diversity", "frechet", "confidence")


def measure_point(model, judge, reference: scoreboard.Reference, guidance: float, steps: int,
                  sampler: str = "euler", n: int = N_SAMPLES, seed: int = 0) -> dict:
    """Figures of ``n`` samples (every digit equally likely) at one setting.

    Returns a dict with the setting (``guidance``, ``steps``, ``sampler``), the figures of
    :data:`POINT_FIELDS` (floats), and ``seconds`` (sampling time).
    """
    guidance, steps, sampler, _ = df.check_settings(guidance, steps, sampler)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 10 <= n <= 10_000:
        raise ValueError(f"n must be a whole number from 10 to 10,000, got {n!r}")
    t0 = time.perf_counter()
    images, labels = model.sample(n, rng=seed, digit="all", guidance=guidance, steps=steps,
                                  sampler=sampler)
    seconds = time.perf_counter() - t0
    ev = scoreboard.evaluate_samples(images, judge, reference, labels,
                                     n_compare=min(n, reference.n_compare))
    return {"guidance": guidance, "steps": steps, "sampler": sampler, "seconds": seconds,
            **{k: None if ev[k] is None else float(ev[k]) for k in POINT_FIELDS}}


def sweep(model, judge, reference, settings, n: int = N_SAMPLES, seed: int = 0,
          callback=None) -> list[dict]:
    """:func:`measure_point` over ``settings`` ((guidance, steps, sampler) tuples);
    ``callback(i, total)`` after each (for a progress bar)."""
    out = []
    for i, (g, s, sampler) in enumerate(settings):
        out.append(measure_point(model, judge, reference, g, s, sampler, n, seed))
        if callback is not None:
            callback(i + 1, len(settings))
    return out


def guidance_settings(steps: int = 20, sampler: str = "euler") -> list[tuple]:
    return [(g, steps, sampler) for g in GUIDANCE_GRID]


def steps_settings(guidance: float = 1.5) -> list[tuple]:
    return [(guidance, s, sampler) for sampler in df.SAMPLERS for s in STEPS_GRID]


# ----------------------------------------------------------------------------- the shipped table

SHIPPED_TABLE = "diffusion_{preset}_knobs.npz"


def shipped_table_path(preset: str = "latent"):
    df.shipped_path(preset)  # checks the name
    return df.WEIGHTS_DIR / SHIPPED_TABLE.format(preset=preset)


def save_table(rows: list[dict], path, model, mnist, n: int, seed: int) -> dict:
    """Write measured points as a checkpoint manifest (family "diffusion_knobs"), atomically,
    with what they hold for: the model file's hash and the dataset's fingerprint."""
    from genlib import checkpoints

    manifest = {"family": "diffusion_knobs", "model_sha256": model.manifest.get("sha256"),
                "data_source": mnist.source, "data_fingerprint": mnist.fingerprint(),
                "n": int(n), "seed": int(seed), "date": time.strftime("%Y-%m-%d"),
                "rows": rows}
    return checkpoints.write(path, {"n": np.array([n])}, manifest)


def load_table(model, mnist, n: int = N_SAMPLES, seed: int = 0, path=None) -> list[dict] | None:
    """The shipped points if they were measured for this model file, dataset, n and seed;
    None otherwise (the page measures them). A damaged table raises ValueError naming it."""
    from genlib import checkpoints

    path = shipped_table_path(model.config.get("preset", "latent")) if path is None else path
    if not path.exists():
        return None
    manifest, _ = checkpoints.read(path, family="diffusion_knobs")
    same = (manifest.get("model_sha256") == model.manifest.get("sha256")
            and manifest.get("data_fingerprint") == mnist.fingerprint()
            and (manifest.get("n"), manifest.get("seed")) == (int(n), int(seed)))
    return list(manifest.get("rows", [])) if same else None


def cli(argv: list[str]) -> None:
    """``python -m genlib.diffusion_knobs [--preset latent]``: measure both sweeps on the
    embedded sample and write the table the Diffusion page opens with."""
    import argparse

    from genlib.classifier import judge_for
    from genlib.data import load_mnist

    ap = argparse.ArgumentParser(prog="python -m genlib.diffusion_knobs", description=cli.__doc__)
    ap.add_argument("--preset", default="latent", choices=list(df.SHIPPED))
    ap.add_argument("--output", default=None)
    args = ap.parse_args(argv)
    model = df.DiffusionModel.load_pretrained(args.preset)
    mnist = load_mnist("sample")
    judge, _ = judge_for(mnist.kind)
    reference = scoreboard.prepare_reference(mnist, judge)
    settings = list(dict.fromkeys(guidance_settings() + steps_settings()))
    t0 = time.perf_counter()
    rows = sweep(model, judge, reference, settings, callback=lambda i, k: print(
        f"{i}/{k} points ({time.perf_counter() - t0:.0f} s)", flush=True))
    out = args.output or shipped_table_path(args.preset)
    save_table(rows, out, model, mnist, N_SAMPLES, 0)
    print(f"saved {out}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
