"""The Diffusion page's reverse process: a scrubber over the steps, Play, and a GIF of the run.

The trajectory is computed once per (model, seed, digit, guidance, steps, sampler) and kept
with its pictures (:class:`ui.diffusion_view.TrajectoryView`): a scrubber move or a frame of
Play reruns only the :func:`scrubber` fragment and looks up PNG bytes.

Play: the Play button (outside the fragment) reruns the page, which defines the fragment with
``run_every=FRAME_S``; each tick moves the scrubber ``stride`` steps on; at the last step the
fragment stops itself (a full rerun that defines it without a timer). Moving the scrubber by
hand pauses. In AppTest the timer never fires: each ``at.run()`` is one frame.
"""

from __future__ import annotations

import math

import streamlit as st

from ui import diffusion_view as dv
from ui import inline_image

FRAME_S = 0.25  # seconds per frame while playing (a server round trip each)
MAX_PLAY_FRAMES = 40  # a 200-step run plays every 5th step: ~10 s


def stride(steps: int) -> int:
    """Steps per frame while playing."""
    return max(1, math.ceil(steps / MAX_PLAY_FRAMES))


def _toggle_play(steps: int) -> None:
    """Play from the start if at the end (or pause)."""
    ss = st.session_state
    if ss.get("df_playing"):
        ss["df_playing"] = False
        return
    ss["df_playing"] = True
    ss["df_play_fresh"] = True  # the click's own run shows this frame, the ticks advance
    if ss.get("df_scrub", steps) >= steps:
        ss["df_scrub"] = 0


def _pause() -> None:
    st.session_state["df_playing"] = False


def reverse_ui(source: tuple, s: dv.Settings) -> None:
    """The Reverse process tab: explanation, Play and GIF, the scrubber fragment."""
    view = dv.trajectory_view(source, s)
    what = "unconditional" if s.digit is None else f"a {s.digit}"
    top, main = st.container(key="df_rev_top"), st.container(key="df_rev_main")
    top.markdown(f"One sample ({what}, seed {s.seed}): the same starting noise is denoised "
                 f"in {s.steps} step{'s' * (s.steps != 1)}. Early guesses are a blurry average "
                 "of all the digits the noise could become; each step commits to more detail.")
    playing = bool(st.session_state.get("df_playing"))
    a, b, _ = top.columns([1, 1.3, 3], vertical_alignment="bottom")
    a.button("Pause" if playing else "Play", key="df_play", on_click=_toggle_play,
             args=(view.steps,), icon=":material/pause:" if playing else ":material/play_arrow:",
             type="primary", width="stretch",
             help="Animate the run: the scrubber walks from the starting noise to the digit")
    b.download_button("Download GIF", view.gif(), file_name=gif_name(s), mime="image/gif",
                      key="df_gif", on_click="ignore", icon=":material/download:",
                      width="stretch",
                      help="The run as an animated GIF: x_t (left) and the model's guess")
    with main:
        scrubber(view, playing)
    st.caption("Euler steps follow the velocity field deterministically (DDIM is the same "
               "step); the stochastic sampler re-draws part of the noise at each step, as "
               "DDPM does. DDPM's network predicts the noise ε instead of v: on this straight "
               "path x̂₀ = (x_t − t ε)/(1 − t) divides by ~0 near pure noise, v divides by "
               "nothing, which is why flow matching samples well in few steps.")


def gif_name(s: dv.Settings) -> str:
    what = "uncond" if s.digit is None else f"digit{s.digit}"
    return f"flow_{what}_g{s.guidance:g}_{s.steps}steps_{s.sampler}_seed{s.seed}.gif"


def scrubber(view: dv.TrajectoryView, playing: bool) -> None:
    @st.fragment(run_every=FRAME_S if playing else None)
    def frame() -> None:
        """The step slider and its pictures: a move reruns only this, looks up cached PNGs."""
        ss, n = st.session_state, view.steps
        if ss.get("df_scrub_run") != id(view) or ss.get("df_scrub", n) > n:
            ss["df_scrub"] = n  # a new run opens on its last step, the digit
            ss["df_scrub_run"] = id(view)
        if playing and not ss.get("df_playing"):
            st.rerun()  # paused (by the slider): drop the timer
        if playing and not ss.pop("df_play_fresh", False):
            ss["df_scrub"] = min(n, ss.get("df_scrub", 0) + stride(n))
        k = st.slider("Step", 0, n, key="df_scrub", on_change=_pause,
                      help="Scrub through the sampler's steps: 0 is the starting noise")
        t = float(view.traj.times[k])
        left, right = st.columns([1, 1.4], gap="large")
        with left, st.container(key="df_main_picture"):
            inline_image.image(view.step_png(k),
                               caption=f"Step {k}/{n}, t = {t:.2f}. Left: x_t decoded. Right: "
                                       "the model's guess of the clean digit, x̂₀ = x_t − t·v")
        with right:
            st.markdown("**The whole run** (the lit frame is the step above)")
            inline_image.image(view.strip_png(k), width="stretch",
                               caption="Top: x_t from t = 1 (left) to t = 0. Bottom: the "
                                       "guess at each step.")
        if playing and k >= n:
            ss["df_playing"] = False
            st.rerun()  # the end: drop the timer, show Play again

    frame()
