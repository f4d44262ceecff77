"""What the models say about the user's own digit (drawn on the pad or uploaded).

- :func:`bayes_verdict_ui`: the class-conditional Gaussians used as a classifier on it:
  log p(x | y) for every class, p(y | x) as bars, how typical it is of the predicted class.
- :func:`gan_closest_ui`: the generator's closest sample to it, found among many fresh
  samples in the judge's feature space, against the closest real held-out digit.

The digit comes from :func:`ui.drawing_pad.digit_input`; the numbers from genlib's models.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

import ui
from ui import evaluation

__all__ = ["bayes_verdict_ui", "posterior_chart", "gan_closest_ui", "N_POOL"]

N_POOL = 1000  # fresh generator samples searched for the closest one
N_SHOWN = 8
POOL_MAX_AGE_S = 20.0  # while training plays, the pool is redrawn at most this often


def posterior_chart(posterior, predicted: int) -> dict:
    """p(y | x) as one bar per digit, the predicted one in the primary colour."""
    values = [{"digit": k, "p": float(p), "chosen": k == predicted}
              for k, p in enumerate(np.asarray(posterior, np.float64))]
    return {
        "data": {"values": values},
        "mark": {"type": "bar"},
        "height": 220,
        "encoding": {
            "x": {"field": "digit", "type": "ordinal", "axis": {"labelAngle": 0}},
            "y": {"field": "p", "type": "quantitative", "title": "p(y | x)",
                  "scale": {"domain": [0, 1]}},
            "color": {"field": "chosen", "type": "nominal", "legend": None,
                      "scale": {"domain": [False, True], "range": ["#b0b0b0", "#1f4e9c"]}},
            "tooltip": [{"field": "digit", "type": "ordinal"},
                        {"field": "p", "type": "quantitative", "format": ".4f",
                         "title": "p(y | x)"}],
        },
    }


def bayes_verdict_ui(model, digit: np.ndarray, reference_ll: np.ndarray | None = None,
                     reference_labels: np.ndarray | None = None) -> int:
    """The class-conditional model's verdict on one digit; returns the predicted class.

    ``reference_ll`` (n, 10) and ``reference_labels`` (n,): log p(x | y) of labelled
    held-out digits (``genlib.gaussian.ClassifierReport.log_likelihood``), to say how
    typical the digit is of the class it is given.
    """
    x = np.asarray(digit, np.float32)[None]
    ll = model.class_log_likelihood(x)[0]
    post = model.predict_proba(x)[0]
    classes = [int(k) for k in model.classes_]
    j = int(np.argmax(model.predict_joint_log_proba(x)[0]))
    k = classes[j]
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.metric("The Bayes classifier says", k,
                  help="argmax over y of log p(x | y) + log p(y): the generative model, "
                       "turned around by Bayes' rule")
        st.markdown(f"$p(y = {k} \\mid x) = {post[j]:.4f}$")
        if reference_ll is not None and reference_labels is not None:
            own = np.asarray(reference_ll)[np.asarray(reference_labels) == k, j]
            if own.size:
                share = float(np.mean(own < ll[j]))
                st.markdown(f"$\\log p(x \\mid y = {k}) = {ll[j]:.0f}$: "
                            + (f"more typical than **{share:.0%}** of the {own.size:,} "
                               f"held-out {k}s" if share > 0 else
                               f"**less typical than every one** of the {own.size:,} "
                               f"held-out {k}s: this model would hardly ever draw it")
                            + f" (their median: {np.median(own):,.0f}).")
    with right:
        st.vega_lite_chart(posterior_chart(post, j), width="stretch")
    st.dataframe(pd.DataFrame({"digit y": classes, "log p(x | y)": ll.round(1),
                               "log p(y)": np.log(model.class_prior_).round(3),
                               "p(y | x)": post.round(4)}),
                 hide_index=True, width="stretch")
    st.caption("log p(x | y) is a density over 784 pixels: differences of hundreds or "
               "thousands of nats between classes are usual, so p(y | x) is nearly always all "
               "or nothing.")
    return k


# ----------------------------------------------------------------------------- GAN


def _pool(ctl, step: int) -> tuple[np.ndarray, np.ndarray]:
    """N_POOL fresh samples of the GAN shown by ``ctl`` and their judge features, kept in
    session state per model and step (while playing: redrawn at most every POOL_MAX_AGE_S)."""
    ss = st.session_state
    model, now = ctl.model, time.monotonic()
    cached = ss.get("gan_yours_pool")
    fresh = cached is not None and cached[0] == id(model) and (
        cached[1] == step or ctl.playing and now - cached[2] < POOL_MAX_AGE_S)
    if fresh:
        return cached[3], cached[4]
    with st.spinner(f"Drawing {N_POOL:,} samples from G and reading them with the judge..."):
        runner = ctl.runner
        if runner is not None and runner.trainer is model:
            with runner.holding():  # between two slices of the training thread
                images = model.sample(N_POOL, rng=step).images
        else:
            images = model.sample(N_POOL, rng=step).images
        judge, _ = evaluation.load_judge(ctl.mnist.kind)
        feats = judge.features(images)
    ss["gan_yours_pool"] = (id(model), step, now, images, feats)
    return images, feats


def gan_closest_ui(ctl, digit: np.ndarray) -> None:
    """The generator's closest samples to ``digit`` in the judge's features, and the closest
    real held-out digits for scale: what G can and cannot make."""
    snap = ctl.snapshot()
    if ctl.model is None or snap is None:
        st.info("Load or train a GAN first.", icon=":material/info:")
        return
    mnist = ctl.mnist
    judge, _ = evaluation.load_judge(mnist.kind)
    mine = judge.features(np.asarray(digit, np.float32)[None])[0]
    images, feats = _pool(ctl, int(snap["step"]))
    dist = np.linalg.norm(feats - mine, axis=1)
    order = np.argsort(dist)[:N_SHOWN]
    try:
        ref = evaluation.load_reference(evaluation.dataset_key(mnist), mnist.kind, mnist)
        real_dist = np.linalg.norm(ref.ref_feats - mine, axis=1)
        real = np.argsort(real_dist)[:N_SHOWN]
    except ValueError:  # too few held-out digits to compare with
        ref, real = None, None
    ui.show_grid(images[order], N_SHOWN, key="gan_yours_closest", scale=3, download=False,
                 caption=f"G's {N_SHOWN} samples closest to your digit, of {len(images):,} "
                         f"fresh ones at step {ctl.snapshot()['step']:,} (closest first; "
                         "distance in the judge's 128 features)")
    if ref is not None:
        ui.show_grid(ref.ref_images[real], N_SHOWN, key="gan_yours_real", scale=3,
                     download=False,
                     caption=f"For scale: the closest of {len(ref.ref_feats):,} real held-out "
                             "digits")
        # as many of G's samples as real digits: the closest of more draws is closer by chance
        m = min(len(dist), len(real_dist))
        ratio = float(dist[:m].min() / max(real_dist[:m].min(), 1e-6))
        verdict = ("G makes digits like yours about as well as real handwriting does"
                   if ratio < 1.3 else "G makes something like it, but less close than "
                   "real handwriting comes" if ratio < 2 else
                   "G cannot make this one yet: nothing it draws comes close")
        st.markdown(f"Closest sample at distance **{dist[order[0]]:.1f}**, closest real digit "
                    f"at **{real_dist[real[0]]:.1f}**; among {m:,} of each, G's closest is "
                    f"{ratio:.1f}x as far as the real one's: {verdict}.")
