"""Shared Streamlit pieces for evaluation: the judge, the real-digit reference, the quality panel.

Any model page can add ``quality_panel(samples, mnist, key=...)`` under its samples: a compact
"How good are these samples?" expander with the model's figures and each sample beside its
nearest training digit. The numbers come from :mod:`genlib.scoreboard` (no TensorFlow).
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

import genlib
import ui
from genlib import scoreboard
from genlib.classifier import Classifier, judge_for

N_NEIGHBOUR_VIEW = 10  # samples shown beside their nearest training digit
LN10 = float(np.log(10))


def dataset_key(mnist: genlib.MNIST) -> str:
    """A short fingerprint of a dataset, with its name (two uploads may share the data)."""
    return f"{mnist.fingerprint()}|{hashlib.sha256(mnist.source.encode()).hexdigest()[:8]}"


@st.cache_resource(show_spinner=False, max_entries=4)
def load_judge(kind: str) -> tuple[Classifier, str]:
    """The judge CNN for a dataset kind (numpy weights, shared read-only) and its file name."""
    judge, path = judge_for(kind)
    return judge, path.name


# cache_resource: the arrays are read-only and up to ~190 MB for full MNIST (a copy per rerun
# from cache_data would cost more than the nearest-neighbour search it saves)
@st.cache_resource(show_spinner="Measuring real held-out digits against the training set...",
                   max_entries=4)
def load_reference(data_key: str, kind: str, _mnist: genlib.MNIST) -> scoreboard.Reference:
    judge, _ = load_judge(kind)
    return scoreboard.prepare_reference(_mnist, judge)


@st.cache_data(show_spinner="Judging the samples...", max_entries=32)
def _evaluate(samples: np.ndarray, labels, data_key: str, kind: str,
              _mnist: genlib.MNIST) -> dict:
    """The panel's figures: scoreboard.evaluate_samples in its quick form (no Frechet
    distance or recall, which the panel does not show), flattened for the cache."""
    judge, _ = load_judge(kind)
    ref = load_reference(data_key, kind, _mnist)
    n_cmp = min(len(samples), ref.n_compare)  # diversity against as many real digits
    ev = scoreboard.evaluate_samples(samples, judge, ref, labels, n_compare=n_cmp, quick=True)
    cov, mem = ev["digits"], ev["memorisation"]
    return {
        "n": ev["n"], "entropy": cov.entropy, "shares": cov.shares, "missing": cov.missing,
        "dominant": cov.dominant, "consistency": ev["consistency"],
        "confidence": ev["confidence"], "diversity": ev["diversity"],
        "ratio": mem.ratio, "nn_index": mem.index, "nn_distance": mem.distance,
        "ref_median": float(np.median(mem.reference_distance)),
    }


def _fmt(value, pattern: str = "{:.2f}") -> str:
    return "n/a" if value is None else pattern.format(value)


# Digit shares only mean something once the samples are digits: on pure noise the judge
# still names a digit for each image (mostly one or two), which reads as mode collapse. A
# sample counts as a digit when it lies about as close to some training digit as real held-out
# digits do (the memorisation ratio, a pixel-space nearest-neighbour test like k-NN precision):
# measured, real digits 1.0, the shipped GANs 1.1-1.3, untrained generators' noise 2.6-3.0.
DIGIT_LIKE_RATIO = 1.5


def _prepare(samples, labels):
    x = np.clip(np.asarray(samples, np.float32), 0.0, 1.0)
    if x.ndim == 2 and x.shape == (28, 28):
        x = x[None]
    return x, None if labels is None else np.asarray(labels, np.int64).reshape(-1)


def figures(samples, mnist: genlib.MNIST, labels=None) -> dict:
    """The panel's figures for ``samples`` (cached by content): ``shares``, ``missing``,
    ``dominant``, ``confidence``, ``ratio``, ... A page that draws its own digit-share chart
    reads them here, so the chart and the panel's verdict are the same numbers."""
    x, y = _prepare(samples, labels)
    return _evaluate(x, y, dataset_key(mnist), mnist.kind, mnist)


def digit_like(r: dict) -> bool:
    """Whether samples with figures ``r`` are digits enough for their digit shares to mean
    anything (see ``DIGIT_LIKE_RATIO``)."""
    return r["ratio"] <= DIGIT_LIKE_RATIO


def quality_panel(samples, mnist: genlib.MNIST, key: str, labels=None,
                  expanded: bool = False, collapse_check: bool = False) -> None:
    """Draw "How good are these samples?" for the samples on screen.

    Parameters
    ----------
    samples : float (n, 28, 28) in [0, 1], the model's samples as shown
    mnist : the dataset in use (from ``ui.setup_page``)
    key : a prefix for this panel's widget keys (unique on the page)
    labels : optional int (n,), the digit each sample was drawn for (class-conditional models)
    collapse_check : hold back the missing / dominant digit warnings while the samples are
        not digits yet (:func:`digit_like`), and say so (a model that starts from noise)
    """
    with st.expander("How good are these samples?", expanded=expanded,
                     icon=":material/fact_check:"):
        try:
            x, _ = _prepare(samples, labels)
            r = figures(samples, mnist, labels)
            judge, judge_file = load_judge(mnist.kind)
        except ValueError as e:
            st.warning(f"Could not evaluate these samples: {e}", icon=":material/warning:")
            return
        _figures(r, shares_mean=not collapse_check or digit_like(r))
        _neighbour_view(x, mnist, r, key)
        acc = judge.accuracy
        st.caption(
            f"Judged by a small CNN ({judge_file}"
            + (f", {acc:.1%} right on held-out digits" if acc is not None else "")
            + "). The Compare Models page scores every model this way on 1,000 samples.")


def _figures(r: dict, shares_mean: bool = True) -> None:
    cols = st.columns(5 if r["consistency"] is not None else 4)
    cols[0].metric("Digit coverage", f"{r['entropy']:.2f} nats",
                   help=f"Entropy of the digits the judge sees in these {r['n']} samples. "
                        f"ln 10 = {LN10:.2f} means every digit equally often; 0 means one "
                        "digit only (mode collapse). Few samples give a noisy figure.")
    i = 1
    if r["consistency"] is not None:
        cols[i].metric("Asked-for digit", f"{r['consistency']:.0%}",
                       help="Share of samples the judge labels as the digit they were drawn "
                            "for (class consistency).")
        i += 1
    cols[i].metric("Judge confidence", f"{r['confidence']:.0%}",
                   help="The judge's mean top probability: ~98% on real digits; lower means "
                        "blobs or scribbles it cannot place.")
    cols[i + 1].metric("Diversity", _fmt(r["diversity"]),
                       help="How spread out the samples are compared with as many real "
                            "held-out digits: ~1 as varied as real digits, 0 repeated images.")
    cols[i + 2].metric("Memorisation ratio", f"{r['ratio']:.2f}",
                       help="Median distance of a sample to its nearest training digit, over "
                            "the same for real held-out digits. ~1: new digits; well below 1: "
                            "copies of training digits.")
    notes = []
    if not shares_mean:
        st.caption(f"No verdict on which digits it makes yet: these samples are not digits "
                   f"(they sit {r['ratio']:.1f}x as far from any training digit as real "
                   f"digits do; digit shares count from {DIGIT_LIKE_RATIO}x).")
    if shares_mean and r["n"] >= 50 and r["missing"]:
        notes.append("rarely or never makes " + ", ".join(map(str, r["missing"])))
    if shares_mean and r["n"] >= 50 and r["dominant"]:
        notes.append("mostly makes " + ", ".join(map(str, r["dominant"])))
    if r["ratio"] < 0.5:
        notes.append("samples sit much closer to training digits than new real digits do: "
                     "it may be copying")
    if notes:
        st.warning("This model " + "; ".join(notes) + ".", icon=":material/warning:")


def _neighbour_view(x: np.ndarray, mnist: genlib.MNIST, r: dict, key: str) -> None:
    k = min(len(x), N_NEIGHBOUR_VIEW)
    pairs = np.concatenate([x[:k], mnist.train.images[r["nn_index"][:k]]])
    dist = r["nn_distance"][:k]
    st.markdown("**Each sample (top) above its nearest training digit (bottom)**")
    st.caption("Pixel distances: " + ", ".join(f"{d:.1f}" for d in dist)
               + f". A real held-out digit is typically {r['ref_median']:.1f} from its nearest "
                 "training digit; 0 would be an exact copy.")
    ui.show_grid(pairs, k, key=f"{key}_nearest", scale=4)
