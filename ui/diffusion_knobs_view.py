"""The Diffusion page's "What the knobs do" tab: guidance and steps, measured by the judge.

The points come from :mod:`genlib.diffusion_knobs`: the shipped table when it was measured
for this model file and dataset (``python -m genlib.diffusion_knobs``, instant), otherwise
measured here on request with a progress bar and kept (``st.cache_data``, one entry per
point, so a second visitor waits for nothing).
"""

from __future__ import annotations

import streamlit as st

import ui
from genlib import diffusion_knobs as dk
from ui import charts, evaluation
from ui import diffusion_view as dv

SAMPLERS = {"euler": "deterministic (Euler)", "stochastic": "stochastic"}
FIGURES = {"consistency": "class consistency", "coverage": "coverage (variety)",
           "density": "density (fidelity)", "diversity": "spread (nearest neighbour)"}


@st.cache_data(show_spinner=False, max_entries=128)
def _point(source: tuple, data_key: str, _mnist, setting: tuple, n: int, seed: int) -> dict:
    judge, _ = evaluation.load_judge(_mnist.kind)
    reference = evaluation.load_reference(data_key, _mnist.kind, _mnist)
    return dk.measure_point(dv.load_model(*source), judge, reference, *setting, n=n, seed=seed)


def settings() -> list[tuple]:
    return list(dict.fromkeys(dk.guidance_settings() + dk.steps_settings()))


def measure_ui(source: tuple, mnist, data_key: str) -> list[dict]:
    """Every point, with a progress bar naming each as it is measured."""
    todo = settings()
    bar = st.progress(0.0, text="Measuring...")
    rows = []
    for i, (g, steps, sampler) in enumerate(todo):
        bar.progress(i / len(todo), text=f"Measuring {dk.N_SAMPLES} samples at guidance {g:g}, "
                                         f"{steps} steps, {sampler} ({i + 1}/{len(todo)})")
        rows.append(_point(source, data_key, mnist, (g, steps, sampler), dk.N_SAMPLES, 0))
    bar.empty()
    return rows


def guidance_chart(rows: list[dict], current: float) -> dict:
    values = [{"guidance": r["guidance"], "figure": FIGURES[k], "value": r[k]}
              for r in rows if r["steps"] == 20 and r["sampler"] == "euler"
              for k in FIGURES if r[k] is not None]
    return {
        "data": {"values": values}, "height": 260,
        "layer": [
            {"mark": {"type": "line", "point": True},
             "encoding": {"x": {"field": "guidance", "type": "quantitative",
                                "title": "guidance scale w"},
                          "y": {"field": "value", "type": "quantitative", "title": None},
                          "color": {"field": "figure", "type": "nominal", "title": None,
                                    "legend": {"orient": "bottom", "columns": 2,
                                               "labelLimit": 220}},
                          "tooltip": [{"field": "figure"}, {"field": "guidance"},
                                      {"field": "value", "format": ".3f"}]}},
            {"mark": {"type": "rule", "strokeDash": [6, 4], "color": "#444444"},
             "encoding": {"x": {"datum": current}}},
        ],
        "config": charts.FONTS,
    }


def steps_chart(rows: list[dict], current: int) -> dict:
    values = [{"steps": r["steps"], "sampler": SAMPLERS[r["sampler"]],
               "frechet": r["frechet"]}
              for r in rows if r["guidance"] == 1.5 and r["frechet"] is not None]
    return {
        "data": {"values": values}, "height": 260,
        "layer": [
            {"mark": {"type": "line", "point": True},
             "encoding": {"x": {"field": "steps", "type": "quantitative",
                                "scale": {"type": "log", "domain": [1, 200]},
                                "title": "steps (log scale)"},
                          "y": {"field": "frechet", "type": "quantitative",
                                "scale": {"type": "log", "zero": False},
                                "title": "Frechet distance"},
                          "color": {"field": "sampler", "type": "nominal", "title": None,
                                    "legend": {"orient": "bottom"}},
                          "tooltip": [{"field": "sampler"}, {"field": "steps"},
                                      {"field": "frechet", "format": ".2f"}]}},
            {"mark": {"type": "rule", "strokeDash": [6, 4], "color": "#444444"},
             "encoding": {"x": {"datum": current}}},
        ],
        "config": charts.FONTS,
    }


def knobs_ui(source: tuple, model, mnist, s: dv.Settings) -> None:
    """The tab: two charts, the current setting dashed, and how they were measured."""
    data_key = evaluation.dataset_key(mnist)
    try:
        rows = dk.load_table(model, mnist)
    except ValueError as e:  # a damaged shipped table: measure instead, and say why
        st.warning(f"The shipped measurements cannot be read ({ui.plain(e)}); measure them "
                   "below.", icon=":material/warning:")
        rows = None
    preset = model.config.get("preset", "latent")
    origin = f"shipped with the model (`python -m genlib.diffusion_knobs --preset {preset}`)"
    if rows is None:
        st.info("No measurements ship for this model and dataset (they ship for both shipped "
                f"models on the embedded sample). Measuring takes {len(settings())} "
                f"settings x {dk.N_SAMPLES} samples: about a minute and a half for the latent "
                "model, much longer for the pixel U-Net (~60x slower a step); the results are "
                "then kept for every visitor.", icon=":material/timer:")
        if not st.button("Measure them now", key="df_knobs_go", icon=":material/speed:"):
            return
        with ui.user_errors("Cannot measure on this dataset: "):
            rows = measure_ui(source, mnist, data_key)
        if rows is None:
            return
        origin = "measured on this server for this model and dataset"
    a, b = st.columns(2, gap="large")
    a.markdown("**Guidance scale**: truer to the class, less varied")
    a.vega_lite_chart(guidance_chart(rows, s.guidance), width="stretch", height=300,
                      key="df_knobs_g")
    b.markdown("**Steps**: Frechet distance to real digits (lower is better)")
    b.vega_lite_chart(steps_chart(rows, s.steps), width="stretch", height=300,
                      key="df_knobs_s")
    st.caption(
        f"Each point: {dk.N_SAMPLES} samples, every digit equally often, the same seed "
        "(the same starting noises and asked-for digits) at every setting, scored by the "
        "judge CNN as on the Compare page: class consistency (the judge sees the digit "
        "asked for), Naeem et al.'s coverage (the share of real digits with a sample "
        "nearby: variety) and density (~1 for samples placed like real digits), the "
        "nearest-neighbour spread relative to real digits. Left at 20 Euler steps, right at "
        f"guidance 1.5. Dashed: your current setting. {origin.capitalize()}.")
