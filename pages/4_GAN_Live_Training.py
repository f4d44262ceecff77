"""Train a GAN live: watch a generator and a discriminator learn to make digits, step by step."""

import numpy as np
import streamlit as st

import ui
from genlib import gan
from ui import charts, drawing_pad, evaluation, gan_exports, your_digit
from ui import gan_controller as control

mnist = ui.setup_page("GAN Live Training", ":material/sports_esports:")

TICK_S = 0.45  # grid refresh period while playing (a little over 2 per second)
CHART_S = 4.0  # chart refresh period while playing
SPEEDS = {"Slow motion: 2 steps/s": 2, "20 steps/s": 20, "200 steps/s": 200, "Full speed": None}
LRS = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2]
PRESET_LABELS = {"mlp": "MLP (fast)", "dcgan": "DCGAN (conv)",
                 "mlp_best": "MLP, best (wider, EMA)", "dcgan_best": "DCGAN, best (wider, EMA)"}
GRID_CSS = "<style>.st-key-gan_grid_box img { image-rendering: pixelated; }</style>"
# On a phone the columns stack: the controls row would fill the first screen with full-width
# buttons. Put the grid (the picture this page is about) first, then the controls, then the
# charts: the two columns are flattened into the one column that holds the controls.
NARROW_CSS = """<style>@media (max-width: 640px) {
  .st-key-gan_top > div:has(> .st-key-gan_main), .st-key-gan_main,
  .st-key-gan_main > div, .st-key-gan_main > div > [data-testid="stHorizontalBlock"] {
    display: contents; }
  .st-key-gan_top [data-testid="stColumn"]:has(.st-key-gan_grid_box) { order: 1; }
  .st-key-gan_top > div:has(> .st-key-gan_controls) { order: 2; }
  .st-key-gan_top [data-testid="stColumn"]:has([data-testid="stMetric"]):not(
    :has(.st-key-gan_grid_box)) { order: 3; }
  .st-key-gan_controls [data-testid="stHorizontalBlock"] { flex-wrap: wrap; gap: 0.4rem; }
  .st-key-gan_controls [data-testid="stColumn"] { min-width: calc(33% - 0.4rem); flex: 1 1 0; }
  .st-key-gan_live_metrics [data-testid="stHorizontalBlock"] { flex-direction: row; }
  .st-key-gan_live_metrics [data-testid="stColumn"] { min-width: 0; flex: 1 1 0; }
}</style>"""


def settings_ui(preset: str) -> dict:
    """Sidebar settings; all but latent size and output apply at once, even while playing."""
    d = gan.PRESETS[preset]
    with st.sidebar:
        st.subheader("GAN settings")
        lr_g = st.select_slider("Generator learning rate", LRS, d["lr_g"], key="gan_lr_g",
                                format_func=lambda v: f"{v:g}")
        lr_d = st.select_slider("Discriminator learning rate", LRS, d["lr_d"], key="gan_lr_d",
                                format_func=lambda v: f"{v:g}")
        batch = st.select_slider("Batch size", [16, 32, 64, 128, 256], d["batch_size"],
                                 key="gan_batch")
        d_steps = st.slider("D steps per G step", 1, 5, d["d_steps"], key="gan_d_steps")
        best = preset in gan.BEST  # hinge is offered for the best presets only
        losses = gan.RANGES["loss"] if best else gan.LOSSES
        loss = st.radio("Loss", losses, losses.index(d["loss"]),
                        key="gan_loss_best" if best else "gan_loss", horizontal=True,
                        help="Non-saturating: G maximises log D(G(z)). Least squares (LSGAN): "
                             "D's score is pushed to 1 on real digits and 0 on fakes. "
                             "Hinge (best presets): D pushes real scores above 1 and fake "
                             "ones below -1.")
        smooth = st.slider("Label smoothing (real target 1 - s)", 0.0, 0.3,
                           d["label_smoothing"], 0.05, key="gan_smooth")
        st.caption("Applied at **Reset**:")
        latent = st.select_slider("Latent size", [2, 8, 16, 32, 64, 128], d["latent_dim"],
                                  key="gan_latent")
        output = st.radio("Generator output", gan.OUTPUTS, gan.OUTPUTS.index(d["output"]),
                          key="gan_output", horizontal=True)
        pack = st.radio("D judges images in packs of", [1, 2, 4], [1, 2, 4].index(d["pack"]),
                        key=f"gan_pack_{preset}", horizontal=True,
                        disabled=gan.base_preset(preset) != "mlp",
                        help="PacGAN: D scores a pack of images at once, so a generator that "
                             "keeps drawing the same few digits is easy to catch. 1 = the "
                             "classic GAN (mlp preset only).")
        seed = st.number_input("Seed", 0, gan.MAX_SEED, key="gan_seed")
    return {"lr_g": lr_g, "lr_d": lr_d, "batch_size": batch, "d_steps": d_steps, "loss": loss,
            "label_smoothing": smooth, "latent_dim": latent, "output": output, "pack": pack,
            "seed": int(seed)}


def controls_ui(playing: bool) -> float | None:
    """Play / pause / step / reset row; returns the speed limit in steps/s (None: full)."""
    with st.container(key="gan_controls"):
        cols = st.columns([1, 1, 1.2, 1, 1.3, 1.9], vertical_alignment="bottom")
        return _controls(cols, playing)


def _controls(cols, playing: bool) -> float | None:
    if playing:
        cols[0].button("Pause", key="gan_pause", icon=":material/pause:", type="primary",
                       width="stretch", on_click=control.pause)
    else:
        cols[0].button("Play", key="gan_play", icon=":material/play_arrow:", type="primary",
                       width="stretch", on_click=control.play)
    cols[2].number_input("Steps", 1, 5000, 1, key="gan_step_n")
    cols[1].button("Step", key="gan_step", icon=":material/skip_next:", width="stretch",
                   on_click=control.step)
    cols[3].button("Reset", key="gan_reset", icon=":material/restart_alt:", width="stretch",
                   help="New random weights with the current settings and seed",
                   on_click=control.reset)
    cols[4].button("Pretrained", key="gan_pretrained", icon=":material/replay:",
                   width="stretch", help="Back to the shipped, already trained GAN",
                   on_click=control.pretrained)
    speed = cols[5].select_slider("Speed", list(SPEEDS), "Full speed", key="gan_speed")
    return SPEEDS[speed]


def shares_ui(step: int) -> None:
    """Share of each digit among 300 fresh samples, judged at most every few seconds: the
    same samples and figures as the quality panel's verdict below."""
    try:
        judged_at, _, r = ctl.judged(step)
    except ValueError as e:  # e.g. too few held-out digits to judge against
        st.info(f"Digit shares cannot be judged on this dataset: {ui.plain(e)}",
                icon=":material/info:")
        return
    st.caption(f"**Which digits does G draw?** Shares among {control.N_SHARES} fresh samples at "
               f"step {judged_at:,}")
    st.vega_lite_chart(charts.gan_shares_chart(r["shares"]), width="stretch",
                       key="gan_shares_chart")
    if not evaluation.digit_like(r):
        # a judge names a digit even for noise (mostly one or two): no collapse verdict yet
        st.caption(f"Not digits yet: these samples sit {r['ratio']:.1f}x as far from any "
                   "training digit as real digits do, so the shares say nothing about mode "
                   f"collapse until that falls to {evaluation.DIGIT_LIKE_RATIO}x.")
    elif r["missing"]:
        st.warning(f"Possible **mode collapse**: digit(s) {', '.join(map(str, r['missing']))} "
                   "make up under 4% of samples.", icon=":material/warning:")
    else:
        st.caption(f"Every digit appears in at least 4% of {control.N_SHARES} samples.")


ctl = control.GANController(mnist)
st.title("GAN live training")
st.markdown("A **generator** G turns random noise $z$ into images; a **discriminator** D "
            "scores how real an image looks. They train against each other: D learns to "
            "tell real digits from fakes, G learns to fool D. When D can no longer tell, "
            "its scores drift to **0.5**.")
if ctl.stopped:
    st.error(f"Training stopped: {ctl.stopped}", icon=":material/error:")
if ctl.link_problems:
    st.warning("Ignored in the link: " + ui.plain("; ".join(ctl.link_problems)),
               icon=":material/link_off:")
preset = st.sidebar.selectbox(
    "GAN preset", list(gan.PRESETS), key="gan_preset", format_func=PRESET_LABELS.get,
    help="MLP and DCGAN are the tutorials' networks: the lesson, blur and speckles included. "
         "The best presets have wider networks (the MLP two 512-unit layers, the DCGAN more "
         "channels and a last 3x3 convolution) and draw samples from a moving average of G's "
         "weights: sharper digits, slower steps.")
settings = settings_ui(preset)
st.html(NARROW_CSS)
top = st.container(key="gan_top")
with top:
    speed = controls_ui(ctl.playing)
control.write_link(preset, settings["seed"])
ctl.sync(preset, settings, speed)

if ctl.damaged:  # a shipped file failed its check: name it, offer what still works
    st.error(f"The pretrained {preset} GAN cannot be used: {ui.plain(ctl.damaged)}",
             icon=":material/gpp_bad:")
    other = next(p for p in gan.PRESETS if p != preset)
    st.button(f"Show the pretrained {PRESET_LABELS[other]} GAN instead", key="gan_other",
              on_click=control.open_preset, args=(other,))
    st.caption("Or press **Reset**, **Play** or **Step** to train one from random weights.")
if ctl.model is None and ctl.snapshot() is None:
    if ctl.state == "starting":  # from random weights, nothing to show until built

        @st.fragment(run_every=TICK_S)
        def waiting() -> None:
            if not ctl.heartbeat():
                st.rerun()
            st.info(ctl.status(), icon=":material/hourglass_top:")

        waiting()
    control.warm_up()
    st.stop()
if ctl.state == "checkpoint" and ctl.model is not None:
    st.info(f"Showing the **pretrained {ctl.model.preset} GAN** shipped with GenLab "
            f"({ctl.model.step:,} steps on {ctl.model.manifest.get('data_source', 'MNIST')}). "
            "**Play** keeps training it; **Reset** starts again from random weights.",
            icon=":material/info:")


def rate_note(rate: float) -> None:
    """Say when training is too slow to watch, and what is practical on this machine."""
    if ctl.state != "playing" or not 0 < rate < control.SLOW_RATE:
        return
    if getattr(ctl.runner.trainer, "on_numpy", False):  # the status line says why, for now
        return
    if gan.base_preset(ctl.model.preset) == "dcgan":
        tip = ("The DCGAN's convolutions are heavy for a CPU: the **MLP (fast)** preset "
               "trains 10-50x faster here, or lower the batch size to 32.")
    else:
        tip = "A smaller batch size or fewer D steps per G step makes each step cheaper."
    st.caption(f":material/speed: Only **{rate:,.0f} steps/s** on this machine's CPU: a few "
               f"hundred steps a minute, so the grid changes slowly. {tip}")


@st.fragment(run_every=TICK_S if ctl.ticking else None)
def live() -> None:
    """The step count and the fixed-noise grid, redrawn from the training thread's latest
    snapshot; the thread trains on meanwhile."""
    if not ctl.heartbeat():  # built, or stopped by itself: the whole page redraws to say
        st.rerun()  # so, shows Play or Pause and sets the timers
    snap = ctl.snapshot()
    state = ctl.state
    rate = ctl.runner.rate if ctl.runner is not None else 0.0
    m = st.container(key="gan_live_metrics").columns(2)
    m[0].metric("Step", f"{snap['step']:,}")
    m[1].metric("Steps / s", f"{rate:,.0f}" if state == "playing" else
                "starting..." if state == "starting" else "paused")
    if ctl.runner is not None and ctl.runner.running or state == "starting":
        st.caption(f":material/memory: {ctl.status()}")
    rate_note(rate)
    # While playing: 224 x 224 pixels, enlarged by the browser (crisp: see GRID_CSS), and no
    # download; encoding, sending and decoding a 4x-upscaled PNG twice a second took CPU from
    # training. Paused: the 896-pixel PNG, to download.
    with st.container(key="gan_grid_box"):
        ui.show_grid(snap["fixed"], 8, key="gan_grid", scale=1 if ctl.playing else 4,
                     width="stretch", download=not ctl.playing,
                     caption=f"The same 64 noise vectors through G at step {snap['step']:,}")


# charts redraw 8x less often than the grid, and the judge looks at fresh samples every 10 s:
# redrawing charts costs the browser more CPU than anything else on the page, and on a 2-core
# machine that CPU is taken from training (charts every 2 s: 62% of headless; every 5 s: 74%)
@st.fragment(run_every=CHART_S if ctl.playing else None)
def charts_ui() -> None:
    """The latest losses and D scores, their history, and the digits G draws."""
    snap = ctl.snapshot()
    h = snap["history"]
    last = {k: float(v[-1]) if len(v) else float("nan") for k, v in h.items()}
    m = st.columns(4)
    m[0].metric("D loss", f"{last['d_loss']:.3f}")
    m[1].metric("G loss", f"{last['g_loss']:.3f}")
    m[2].metric("D(x), real", f"{last['d_real']:.2f}")
    m[3].metric("D(G(z)), fake", f"{last['d_fake']:.2f}")
    if len(h["step"]):
        st.caption("**Losses**")
        st.vega_lite_chart(charts.gan_history_chart(
            h, {"d_loss": ("D loss", "#1f4e9c"), "g_loss": ("G loss", "#d62728")}, "loss"),
            width="stretch", key="gan_loss_chart")
        st.caption("**Mean D score**: 1 = sure it is real, 0 = sure it is fake; dashed: 0.5, "
                   "where D cannot tell")
        st.vega_lite_chart(charts.gan_history_chart(
            h, {"d_real": ("D(x) real", "#2ca02c"), "d_fake": ("D(G(z)) fake", "#ff7f0e")},
            "mean D score", rule=0.5), width="stretch", key="gan_score_chart")
    else:
        st.caption("Charts appear after the first training step.")
    shares_ui(snap["step"])


st.html(GRID_CSS)
with top, st.container(key="gan_main"):
    left, right = st.columns([1, 1.25], gap="large")
    with left:
        live()
    with right:
        charts_ui()

# ----------------------------------------------------------------------------- history, export

snap = ctl.snapshot()
steps, frames = snap["frames"]
st.subheader("Look back and export")
hist_col, export_col = st.columns([1, 1.25], gap="large")
with hist_col:
    if ctl.playing:
        st.caption("Pause to scrub through earlier snapshots of the grid.")
    elif len(steps) > 1:
        at = st.select_slider("Snapshot at step", steps, steps[-1], key="gan_scrub",
                              format_func=lambda s: f"{s:,}")
        ui.show_grid(frames[steps.index(at)] / np.float32(255), 8, key="gan_frame", scale=3,
                     caption=f"Fixed-noise grid at step {at:,} ({len(steps)} snapshots kept)",
                     download=False)
    else:
        st.caption("Train a few steps to build a history.")
with export_col:
    gan_exports.exports_ui(snap, ctl.model, ctl.runner)



# Refreshed with the digit-share chart (same interval, same cached samples and figures), so
# the two never disagree and neither shows an old verdict while playing.
@st.fragment(run_every=CHART_S if ctl.playing else None)
def quality_ui() -> None:
    try:
        _, fakes, _ = ctl.judged(ctl.snapshot()["step"])
    except ValueError:  # too few held-out digits: the share chart above already says so
        return
    evaluation.quality_panel(fakes, mnist, key="gan_quality", collapse_check=True)


quality_ui()


@st.fragment
def yours() -> None:
    """Draw a digit, see G's closest samples: a stroke reruns only this."""
    digit = drawing_pad.digit_input("gan", judge_kind=mnist.kind)
    if digit is not None:
        your_digit.gan_closest_ui(ctl, digit)


st.subheader("Your digit: can G make it?")
st.caption(f"Draw a digit (or upload one): G's closest samples among {your_digit.N_POOL:,} "
           "fresh ones show what it can and cannot make yet.")
yours()
# TensorFlow and the default train step load while the user reads: started once the page is
# drawn, since importing TensorFlow holds Python's lock for seconds at a time (a first render
# took 4.7 s beside it). A Play before then trains on numpy meanwhile.
control.warm_up()
