"""One scoreboard across every model: the same held-out digits, the same judge, the same n.

Each row is one model (or a reference): its samples are judged by the CNN of
:mod:`genlib.classifier` and scored by :mod:`genlib.metrics`. Two reference rows frame the
numbers: **real held-out digits** (the best any model can do) and **class means** (ten mean
images repeated: on-support, but no diversity at all).

The held-out split is cut once, with a fixed permutation, into

- the *reference* half R: the real digits every model is compared with (Frechet distance,
  precision/recall balls, nearest-training distances of real digits);
- the *real* half B: the samples of the "real held-out digits" row.

Sample-size-sensitive figures (Frechet distance, recall) use the same number of samples for
every row: ``min(n_samples, len(B))``. Likelihoods are measured on R.

numpy/scipy only: Gaussians are fitted here, the VAE and GAN load their shipped weights and
run numpy forward passes. Nothing imports TensorFlow.
"""

from __future__ import annotations

import csv
import io
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from genlib import metrics
from genlib.registry import (  # the registry, re-exported: sb.MODELS, sb.register, ...
    CODE_VERSION,
    MODELS,
    REFERENCE_ROWS,
    ClassMeans,
    ModelSpec,
    _weights_dir,
    available_models,
    exact_likelihood,
    load_model,
    model_version,
    register,
)

__all__ = [
    "Reference",
    "ModelSpec",
    "MODELS",
    "register",
    "ClassMeans",
    "REFERENCE_ROWS",
    "prepare_reference",
    "evaluate_samples",
    "available_models",
    "load_model",
    "model_version",
    "score_model",
    "compute_scoreboard",
    "to_csv",
    "COLUMNS",
]

MAX_REFERENCE = 1000  # real digits in R: enough for stable figures, cheap nearest neighbours
K_NEIGHBOURS = 5


# ----------------------------------------------------------------------------- the reference


@dataclass(frozen=True)
class Reference:
    """Everything about the real data that every row is measured against.

    Attributes
    ----------
    train_images : float32 (N, 28, 28), what the models learned from
    ref_images : float32 (m, 28, 28), the reference half R of the held-out split (also the
        digits every likelihood is measured on)
    ref_feats : float32 (m, 128), judge features of R
    ref_radii : float64 (m,), k-NN radii of R in feature space
    ref_nn_distance : float64 (m,), pixel distance of each R digit to its nearest training digit
    real_images, real_labels : the other half B, the samples of the "real" row
    real_feats : float32, judge features of B (the spread that diversity is relative to)
    """

    train_images: np.ndarray
    ref_images: np.ndarray
    ref_feats: np.ndarray
    ref_radii: np.ndarray
    ref_nn_distance: np.ndarray
    real_images: np.ndarray
    real_labels: np.ndarray
    real_feats: np.ndarray

    @property
    def n_compare(self) -> int:
        return len(self.real_images)


def prepare_reference(mnist, judge, max_reference: int = MAX_REFERENCE) -> Reference:
    """Split the held-out digits into R and B (a fixed permutation) and precompute R's figures."""
    test = mnist.test
    if len(test) < 2 * (K_NEIGHBOURS + 1):
        raise ValueError(f"the held-out split has {len(test)} digits; the scoreboard needs "
                         f"at least {2 * (K_NEIGHBOURS + 1)}")
    order = np.random.default_rng(0).permutation(len(test))  # fixed: same digits every time
    m = min(len(test) // 2, max_reference)
    # B stays shuffled: the held-out split is sorted by class, and the real row takes B[:n]
    ref_idx, real_idx = np.sort(order[:m]), order[m:]
    ref_images = test.images[ref_idx]
    ref_feats = judge.features(ref_images)
    _, ref_nn = metrics.nearest_neighbours(ref_images, mnist.train.images)
    return Reference(
        train_images=mnist.train.images,
        ref_images=ref_images,
        ref_feats=ref_feats,
        ref_radii=metrics.knn_radii(ref_feats, K_NEIGHBOURS),
        ref_nn_distance=ref_nn,
        real_images=test.images[real_idx],
        real_labels=test.labels[real_idx],
        real_feats=judge.features(test.images[real_idx]),
    )


def evaluate_samples(samples, judge, reference: Reference, labels=None,
                     n_compare: int | None = None, quick: bool = False) -> dict:
    """All sample figures for one set of samples: the scoreboard's and every quality panel's.

    Parameters
    ----------
    samples : float (n, 28, 28) in [0, 1]
    judge : a :class:`genlib.classifier.Classifier`
    reference : from :func:`prepare_reference`
    labels : optional int (n,), the digit each sample was drawn for (class-conditional models)
    n_compare : samples used by n-sensitive figures (Frechet, recall, diversity); default all
    quick : skip the Frechet distance and recall (a third of the time; the pages' quality
        panels do not show them)

    Returns
    -------
    dict with ``pred`` (judged labels), ``digits`` (:class:`metrics.Coverage`: the judged
    digits' shares and entropy), ``consistency`` (or None), ``frechet`` and ``diversity``
    (None below 2 samples), ``density`` and ``coverage`` (Naeem et al.), ``confidence``,
    ``recall``, ``memorisation`` (:class:`metrics.Memorisation`), ``n``, ``n_compare``.
    """
    x = np.asarray(samples, np.float32)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"samples must have shape (n, 28, 28) with n >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinite values")
    if labels is not None:
        labels = np.asarray(labels, np.int64).reshape(-1)
        if len(labels) != len(x):
            raise ValueError(f"{len(x)} samples but {len(labels)} labels")
    from genlib.nn import single_threaded

    with single_threaded():  # small products: threaded OpenBLAS spin-waits on a busy machine
        pred, proba, feats = judge.predict_all(x)
        n_cmp = len(x) if n_compare is None else max(1, min(int(n_compare), len(x)))
        cmp_feats = feats[:n_cmp]
        slow = not quick
        density, coverage = metrics.density_coverage(reference.ref_feats, cmp_feats,
                                                     K_NEIGHBOURS, reference.ref_radii)
        return {
            "density": density,
            "coverage": coverage,
            "n": len(x),
            "n_compare": n_cmp,
            "pred": pred,
            "digits": metrics.coverage(pred),
            "consistency": None if labels is None else metrics.class_consistency(pred, labels),
            "frechet": metrics.frechet_distance(cmp_feats, reference.ref_feats)
            if slow and n_cmp >= 2 else None,
            "confidence": metrics.judge_confidence(proba),
            "recall": metrics.recall(reference.ref_feats, cmp_feats, K_NEIGHBOURS)
            if slow and n_cmp > K_NEIGHBOURS else None,
            "diversity": metrics.diversity(cmp_feats, reference.real_feats[:n_cmp])
            if n_cmp >= 2 else None,
            "memorisation": metrics.memorisation(x, reference.train_images,
                                                 reference_distance=reference.ref_nn_distance),
        }


def _rng_for(name: str, seed: int) -> np.random.Generator:
    # the row's own stream: the same samples whatever else is on the scoreboard
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def score_model(name: str, model, reference: Reference, judge, n_samples: int = 1000,
                seed: int = 0, likelihood: bool = True) -> dict:
    """One scoreboard row: draw ``n_samples`` from ``model`` and compute every figure.

    Returns a flat dict of the :data:`COLUMNS` (None where a figure does not apply) plus
    ``samples`` (the first 16 images) and ``shares`` (judged digit shares).
    """
    n_samples = int(n_samples)
    if not 1 <= n_samples <= 100_000:
        raise ValueError(f"n_samples must be between 1 and 100,000, got {n_samples}")
    spec = MODELS[name]
    rng = _rng_for(name, seed)
    t0 = time.perf_counter()
    if name == REFERENCE_ROWS[0]:
        images, labels = reference.real_images[:n_samples], reference.real_labels[:n_samples]
    else:
        images, labels = model.sample(n_samples, rng=rng, **spec.sample_kwargs)
    images = np.clip(np.asarray(images, np.float32).reshape(-1, 28, 28), 0.0, 1.0)
    sample_seconds = time.perf_counter() - t0
    ev = evaluate_samples(images, judge, reference, labels,
                          n_compare=min(n_samples, reference.n_compare))
    lik = {}
    measure = spec.likelihood or (exact_likelihood if hasattr(model, "score_samples")
                                  else None)
    if likelihood and measure is not None:
        # the reference half R: the same held-out digits for every model
        lik = measure(model, reference.ref_images, rng)
    nll = lik.get("nll")
    cov, mem = ev["digits"], ev["memorisation"]
    flags = []
    if cov.missing:
        flags.append("rarely makes " + ", ".join(map(str, cov.missing)))
    if cov.dominant:
        flags.append("mostly makes " + ", ".join(map(str, cov.dominant)))
    if mem.ratio < 0.5:
        flags.append("copies training digits")
    return {
        "model": name,
        "family": spec.family,
        "samples_drawn": len(images),
        "coverage_entropy": cov.entropy,
        "class_consistency": ev["consistency"],
        "frechet": ev["frechet"],
        "confidence": ev["confidence"],
        "recall": ev["recall"],
        "density": ev["density"],
        "coverage": ev["coverage"],
        "diversity": ev["diversity"],
        "memorisation_ratio": mem.ratio,
        "nll_nats": nll,
        "nll_bits_per_pixel": None if nll is None else metrics.nats_to_bits_per_pixel(nll),
        "neg_elbo_nats": lik.get("elbo"),
        "likelihood_kind": lik.get("kind", ""),
        "flags": "; ".join(flags),
        "n_compare": ev["n_compare"],
        "sample_seconds": sample_seconds,
        "seconds": time.perf_counter() - t0,
        "shares": cov.shares,
        "samples": images[:16],
    }


COLUMNS = {  # key -> (header, meaning) for tables and CSV
    "model": ("Model", "what made the samples"),
    "family": ("Family", ""),
    "samples_drawn": ("Samples", "samples drawn"),
    "coverage_entropy": ("Digit coverage (nats)",
                         "entropy of the judged digits; ln 10 = 2.303 = every digit equally"),
    "class_consistency": ("Class consistency",
                          "share judged as the digit asked for (class-conditional models)"),
    "frechet": ("Frechet distance", "to real digits in judge features; lower is better"),
    "confidence": ("Judge confidence", "mean top probability the judge gives a sample"),
    "recall": ("Recall", "share of real digits inside the samples' own neighbourhoods "
               "(Kynkaanniemi et al.); noisy samples can inflate it"),
    "density": ("Density", "samples per real-digit neighbourhood, /k (Naeem et al.): ~1 like "
                "real digits, ~0 for noise"),
    "coverage": ("Coverage", "share of real digits with a sample in their neighbourhood "
                 "(Naeem et al.): variety that noise does not fake"),
    "diversity": ("Spread", "nearest-neighbour spread vs real digits; 0 = repeats, but pixel "
                  "noise also counts as spread"),
    "memorisation_ratio": ("Memorisation ratio",
                           "nearest-training distance vs real digits'; ~1 new, <<1 copies"),
    "nll_nats": ("Held-out NLL (nats)", "negative log-likelihood per digit; lower is better"),
    "nll_bits_per_pixel": ("Bits/pixel", "NLL / (784 ln 2)"),
    "neg_elbo_nats": ("-ELBO (nats)", "VAE: negative evidence lower bound per digit"),
    "likelihood_kind": ("Likelihood", "what the NLL is"),
    "flags": ("Warnings", "missing or dominant digits, copying"),
}


def compute_scoreboard(mnist, judge, n_samples: int = 1000, seed: int = 0, names=None,
                       progress: Callable[[float, str], None] | None = None,
                       likelihood: bool = True) -> list[dict]:
    """Score every available model (or ``names``) on the same held-out digits.

    ``progress(fraction, message)`` is called before each row and once at the end.
    """
    names = list(available_models(mnist.kind) if names is None else names)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}")
    reference = prepare_reference(mnist, judge)
    rows = []
    for i, name in enumerate(names):
        if progress:
            progress(i / len(names), f"{name} ({i + 1}/{len(names)})")
        model = load_model(name, mnist)
        rows.append(score_model(name, model, reference, judge, n_samples, seed, likelihood))
    if progress:
        progress(1.0, "done")
    return rows


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def to_csv(rows: list[dict]) -> str:
    """The rows as CSV text with one header line (the :data:`COLUMNS` keys)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = list(COLUMNS)
    w.writerow(keys)
    for r in rows:
        w.writerow([_fmt(r.get(k)) for k in keys])
    return buf.getvalue()


# ----------------------------------------------------------------------------- the shipped table
# The Compare page opens with the table for the shipped models on the sample, computed once by
# ``python -m genlib.scoreboard`` and shipped beside the weights (genlib.checkpoints format:
# the figures in the manifest, each row's first 16 samples in the arrays). A row is used only
# while its model version (code and weights) and the dataset are those it was computed with.

SHIPPED_TABLE = "scoreboard.npz"
_NUMBERS = [k for k in COLUMNS if k not in ("model", "family", "likelihood_kind", "flags")]


def _plain(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in ("samples", "shares")}
    out = {k: (None if v is None else float(v) if isinstance(v, (float, np.floating)) else
               int(v) if isinstance(v, (int, np.integer)) else v) for k, v in out.items()}
    out["shares"] = [float(x) for x in np.asarray(row["shares"])]
    return out


def save_table(rows: list[dict], path, mnist, n_samples: int, seed: int,
               likelihood: bool) -> dict:
    """Write rows (with their model versions and the dataset's fingerprint) as a checkpoint."""
    from genlib import checkpoints

    arrays = {f"samples/{i}": (np.clip(r["samples"], 0, 1) * 255).round().astype(np.uint8)
              for i, r in enumerate(rows)}
    manifest = {"family": "scoreboard", "preset": "shipped models", "code": CODE_VERSION,
                "data_source": mnist.source, "data_kind": mnist.kind,
                "data_fingerprint": mnist.fingerprint(), "n_samples": int(n_samples),
                "seed": int(seed), "likelihood": bool(likelihood),
                "date": time.strftime("%Y-%m-%d"),
                "rows": [{**_plain(r), "version": model_version(r["model"])} for r in rows]}
    return checkpoints.write(path, arrays, manifest)


def load_table(mnist, n_samples: int, seed: int, likelihood: bool, path=None) -> dict:
    """The shipped rows that still hold for this dataset and these settings, by model name.

    A row whose model changed since (code or weights), or a table for other data or other
    settings, is left out: the page computes those. A damaged file gives no rows.
    """
    from genlib import checkpoints

    path = Path(path) if path is not None else _weights_dir() / SHIPPED_TABLE
    if not path.exists():
        return {}
    manifest, arrays = checkpoints.read(path, family="scoreboard")
    same = (manifest.get("code") == CODE_VERSION
            and manifest.get("data_fingerprint") == mnist.fingerprint()
            and (manifest.get("n_samples"), manifest.get("seed"), manifest.get("likelihood"))
            == (int(n_samples), int(seed), bool(likelihood)))
    if not same:
        return {}
    out = {}
    for i, r in enumerate(manifest.get("rows", [])):
        name = r.get("model")
        if name in MODELS and r.get("version") == model_version(name):
            samples = arrays.get(f"samples/{i}", np.zeros((0, 28, 28), np.uint8))
            out[name] = {**r, "shares": np.asarray(r["shares"]),
                         "samples": samples.astype(np.float32) / 255}
    return out


def cli(argv: list[str]) -> None:
    """``python -m genlib.scoreboard [--n 1000] [--seed 0] [--no-likelihood] [--output P]``:
    score every shipped model on the sample and write the table the Compare page opens with."""
    import argparse

    from genlib.classifier import judge_for
    from genlib.data import load_mnist

    ap = argparse.ArgumentParser(prog="python -m genlib.scoreboard", description=cli.__doc__)
    ap.add_argument("--n", type=int, default=1000, help="samples per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-likelihood", action="store_true")
    ap.add_argument("--output", default=str(_weights_dir() / SHIPPED_TABLE))
    ap.add_argument("--csv", action="store_true", help="also print the table as CSV")
    args = ap.parse_args(argv)
    mnist = load_mnist("sample")
    judge, _ = judge_for(mnist.kind)
    t0 = time.perf_counter()
    rows = compute_scoreboard(mnist, judge, args.n, args.seed, likelihood=not args.no_likelihood,
                              progress=lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
    save_table(rows, args.output, mnist, args.n, args.seed, not args.no_likelihood)
    print(f"wrote {args.output} ({len(rows)} rows, {time.perf_counter() - t0:.1f} s)")
    if args.csv:
        print(to_csv(rows), end="")


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
