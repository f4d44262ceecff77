"""The Diffusion page's editing tabs: denoise your own digit (SDEdit), interpolate two noises.

Both run :mod:`genlib.diffusion_edits` with the page's settings (digit, guidance, steps,
sampler, seed) and cache the result per input and settings.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from genlib import diffusion_edits as de
from genlib import images as gim
from ui import diffusion_view as dv
from ui import drawing_pad, evaluation, inline_image

SDEDIT_TIMES = tuple(np.round(np.linspace(0, 1, 11), 2))
SOURCES = ["Draw or upload yours", "A held-out digit"]


@st.cache_data(show_spinner="Noising and denoising at 11 values of t...", max_entries=16)
def sdedit(source: tuple, image: np.ndarray, s: dv.Settings) -> de.SDEdit:
    return de.sdedit(dv.load_model(*source), image, SDEDIT_TIMES, rng=s.seed, digit=s.digit,
                     guidance=s.guidance, steps=s.steps, sampler=s.sampler)


@st.cache_data(show_spinner="Sampling along the path between the two noises...",
               max_entries=16)
def interpolation(source: tuple, seeds: tuple, frames: int, s: dv.Settings) -> de.Interpolation:
    return de.interpolate(dv.load_model(*source), seeds, frames, digit=s.digit,
                          guidance=s.guidance, steps=s.steps)


def input_digit_ui(mnist) -> np.ndarray | None:
    """The digit to edit: drawn on the pad or uploaded (ui.drawing_pad), or a held-out one.
    None (with the reason shown) while there is none or it cannot be used."""
    how = st.radio("Your digit", SOURCES, key="df_sd_source", horizontal=True,
                   label_visibility="collapsed")
    if how == SOURCES[0]:
        return drawing_pad.digit_input("df_sd", judge_kind=mnist.kind)
    a, b, _ = st.columns([1, 1, 3])
    digit = a.selectbox("Class", range(10), index=5, key="df_sd_class")
    which = b.number_input("Which one", 0, 999, 0, key="df_sd_which")
    return dv.real_digit(mnist, evaluation.dataset_key(mnist), digit, which)


def sdedit_ui(source: tuple, mnist, s: dv.Settings) -> None:
    st.markdown(
        "**SDEdit**: push a digit part of the way to noise, $x_t = (1-t)\\,x_0 + t\\,"
        "\\varepsilon$, then let the model carry it back to $t = 0$. A little noise and the "
        "model only tidies the digit; a lot and it draws a new one, keeping only the rough "
        "shape. (The same trick turns sketches into pictures in image generators.)")
    image = input_digit_ui(mnist)
    if image is None:
        return
    towards = "no class (unconditional)" if s.digit is None else f"a {s.digit}"
    with ui.user_errors("Cannot denoise this digit: "):
        r = sdedit(source, np.asarray(image, np.float32), s)
        judge, _ = evaluation.load_judge(mnist.kind)
        pred, proba, _ = judge.predict_all(r.edited[:, 0])
        kept = de.similarity(r.edited[:, 0], image)
        left, right = st.columns([1, 4], vertical_alignment="center")
        inline_image.image(gim.to_png(image, scale=5), where=left,
                           caption="Your digit, as MNIST (28 x 28)")
        strip = gim.tile(np.concatenate([r.noised[:, 0], r.edited[:, 0]]), len(r.times), pad=3)
        inline_image.image(gim.to_png(strip, scale=3), where=right, width="stretch",
                           caption=f"t = {', '.join(f'{t:g}' for t in r.times)}. Top: noised "
                                   f"to t. Bottom: denoised towards {towards} ({s.steps} steps "
                                   "from t = 1, proportionally fewer from smaller t; guidance "
                                   f"{s.guidance:g}, seed {s.seed}).")
        st.vega_lite_chart(survival_chart(r.times, kept, pred, proba.max(1)), width="stretch",
                           key="df_sd_chart")
        st.caption("How much of your digit survives: the pixel correlation of the result with "
                   "your digit (1: the same picture), labelled with the digit the judge CNN "
                   "reads in the result." + (
                       " At t > 0 the result passes through the VAE, so even a little noise "
                       "gives the VAE's smoother version of your digit."
                       if source[0] == "latent" else ""))


def survival_chart(times, kept, pred, confidence) -> dict:
    values = [{"t": float(t), "kept": float(k), "judged": f"judged {int(p)}",
               "label": str(int(p)), "confidence": float(c)}
              for t, k, p, c in zip(times, kept, pred, confidence)]
    enc = {"x": {"field": "t", "type": "quantitative", "title": "noise level t",
                 "scale": {"domain": [0, 1]}},
           "y": {"field": "kept", "type": "quantitative", "title": "correlation with your digit",
                 "scale": {"domain": [-0.2, 1]}}}
    return {"data": {"values": values}, "height": 220, "encoding": enc, "layer": [
        {"mark": {"type": "line", "point": True},
         "encoding": {"tooltip": [{"field": "t"}, {"field": "kept", "format": ".2f"},
                                  {"field": "judged"},
                                  {"field": "confidence", "format": ".0%"}]}},
        {"mark": {"type": "text", "dy": -12, "fontSize": 13},
         "encoding": {"text": {"field": "label"}}}]}


def interpolation_ui(source: tuple, s: dv.Settings) -> None:
    st.markdown(
        "Two starting noises (the seeds' own, those the grid and the reverse process start "
        "from) and the noises between them, each carried to a digit by the **deterministic** "
        "sampler: the same noise always gives the same digit, so every change along the strip "
        "comes from the noise alone. The path follows the great circle between the two "
        "(a straight line's middle is unusually quiet noise, and decodes to a faint blur).")
    a, b, c = st.columns(3)
    first = a.number_input("From seed", 0, 2**31 - 1, s.seed, key="df_ip_a")
    second = b.number_input("To seed", 0, 2**31 - 1, s.seed + 1, key="df_ip_b")
    frames = c.slider("Frames", 3, 16, 9, key="df_ip_frames")
    with ui.user_errors("Cannot interpolate: "):
        it = interpolation(source, (int(first), int(second)), int(frames), s)
        what = "unconditional" if s.digit is None else f"asked for a {s.digit}"
        ui.show_grid(it.images, len(it.images), key="df_interp", scale=3, width="stretch",
                     caption=f"From the noise of seed {first} (left) to that of seed {second}, "
                             f"{what}, guidance {s.guidance:g}, {s.steps} Euler steps.")
