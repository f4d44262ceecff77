"""Train a GAN live: watch a generator and a discriminator learn to make digits, step by step."""

import io
import time
import zipfile

import numpy as np
import streamlit as st

import ui
from genlib import gan
from genlib.live import LiveTraining
from ui import evaluation

mnist = ui.setup_page("GAN Live Training", ":material/sports_esports:")

TICK_S = 0.45  # grid refresh period while playing (a little over 2 per second)
CHART_S = 4.0  # chart refresh period while playing
SHARES_S = 10.0  # judge fresh samples at most this often while playing
SPEEDS = {"Slow motion: 2 steps/s": 2, "20 steps/s": 20, "200 steps/s": 200, "Full speed": None}
LRS = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2]
S = st.session_state
GRID_CSS = "<style>.st-key-gan_grid_box img { image-rendering: pixelated; }</style>"


@st.cache_resource(show_spinner="Loading the pretrained GAN...", max_entries=2)
def load_pretrained(preset: str) -> gan.GANCheckpoint:
    return gan.load_checkpoint(gan.shipped_checkpoint_path(preset))


@st.cache_resource(show_spinner=False, max_entries=2)
def load_judge(source: str, _mnist):
    return gan.load_judge(_mnist.train.images, _mnist.train.labels)


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
        loss = st.radio("Loss", gan.LOSSES, gan.LOSSES.index(d["loss"]), key="gan_loss",
                        horizontal=True,
                        help="Non-saturating: G maximises log D(G(z)). Least squares (LSGAN): "
                             "D's score is pushed to 1 on real digits and 0 on fakes.")
        smooth = st.slider("Label smoothing (real target 1 - s)", 0.0, 0.3,
                           d["label_smoothing"], 0.05, key="gan_smooth")
        st.caption("Applied at **Reset**:")
        latent = st.select_slider("Latent size", [2, 8, 16, 32, 64, 128], d["latent_dim"],
                                  key="gan_latent")
        output = st.radio("Generator output", gan.OUTPUTS, gan.OUTPUTS.index(d["output"]),
                          key="gan_output", horizontal=True)
        pack = st.radio("D judges images in packs of", [1, 2, 4], [1, 2, 4].index(d["pack"]),
                        key=f"gan_pack_{preset}", horizontal=True, disabled=preset != "mlp",
                        help="PacGAN: D scores a pack of images at once, so a generator that "
                             "keeps drawing the same few digits is easy to catch. 1 = the "
                             "classic GAN (mlp preset only).")
        seed = st.number_input("Seed", 0, 2**31 - 1, key="gan_seed")
    return {"lr_g": lr_g, "lr_d": lr_d, "batch_size": batch, "d_steps": d_steps, "loss": loss,
            "label_smoothing": smooth, "latent_dim": latent, "output": output, "pack": pack,
            "seed": int(seed)}


def live_settings(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in (*gan.ARCHITECTURE, "seed")}


def start_trainer(preset: str, settings: dict, fresh: bool) -> None:
    """Replace the model by a trainer: from scratch, or continuing the shown checkpoint."""
    with st.spinner("Starting TensorFlow and compiling the train step (a few seconds)..."):
        try:
            if fresh:
                S.gan_model = gan.GANTrainer(preset, images=mnist.train.images,
                                             **{k: v for k, v in settings.items()})
            else:
                S.gan_model = gan.GANTrainer.load(gan.shipped_checkpoint_path(preset),
                                                  images=mnist.train.images,
                                                  **live_settings(settings))
            S.gan_model.warm_up()  # compile now, not in the first refresh
        except ImportError:
            S.gan_playing = False
            raise ValueError("training needs TensorFlow: pip install -r requirements.txt") \
                from None


def pause() -> None:
    S.gan_playing = False
    if "gan_live" in S:
        S.gan_live.pause()  # waits for the slice in progress: the next draw is final


def controls_ui() -> float | None:
    """Play / pause / step / reset row; returns the speed limit in steps/s (None: full)."""
    cols = st.columns([1, 1, 1.2, 1, 1.3, 1.9], vertical_alignment="bottom")
    if S.gan_playing:
        cols[0].button("Pause", key="gan_pause", icon=":material/pause:", type="primary",
                       width="stretch", on_click=pause)
    else:
        cols[0].button("Play", key="gan_play", icon=":material/play_arrow:", type="primary",
                       width="stretch", on_click=lambda: S.update(gan_playing=True))
    cols[2].number_input("Steps", 1, 5000, 1, key="gan_step_n")

    def step() -> None:
        pause()
        S.gan_pending += int(S.gan_step_n)

    def act(action: str) -> None:
        pause()
        S.gan_action = action

    cols[1].button("Step", key="gan_step", icon=":material/skip_next:", width="stretch",
                   on_click=step)
    cols[3].button("Reset", key="gan_reset", icon=":material/restart_alt:", width="stretch",
                   help="New random weights with the current settings and seed",
                   on_click=act, args=("reset",))
    cols[4].button("Pretrained", key="gan_pretrained", icon=":material/replay:",
                   width="stretch", help="Back to the shipped, already trained GAN",
                   on_click=act, args=("pretrained",))
    speed = cols[5].select_slider("Speed", list(SPEEDS), "Full speed", key="gan_speed")
    return SPEEDS[speed]


def session_alive():
    """A thread-safe test 'is this browser session still connected?' (always true in
    AppTest, which has no Streamlit runtime)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if not Runtime.exists() or ctx is None:
        return lambda: True
    runtime, session = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session)


def shares_ui(step: int) -> None:
    """Share of each digit among 300 samples, judged at most every few seconds."""
    cached = S.get("gan_shares")
    now = time.monotonic()
    if cached is None or cached[0][0] != id(model) or (
            cached[0][1] != step and (not S.gan_playing or now - cached[2] >= SHARES_S)):
        judge, judge_name = load_judge(mnist.source, mnist)
        if runner is None:
            fakes = model.sample(300, rng=step)
        else:
            with runner.holding():  # between two slices of the training thread
                fakes = model.sample(300, rng=step)
        shares = gan.digit_shares(judge.predict(fakes))
        cached = S.gan_shares = ((id(model), step), (shares, judge_name), now)
    shares, judge_name = cached[1]
    st.caption(f"**Which digits does G draw?** Shares among 300 fresh samples at step "
               f"{cached[0][1]:,}")
    st.vega_lite_chart(gan.shares_chart(shares), width="stretch", key="gan_shares_chart")
    rare = gan.rare_digits(shares)
    if rare:
        st.warning(f"Possible **mode collapse**: digit(s) {', '.join(map(str, rare))} make up "
                   f"under 4% of samples (judged by {judge_name}).", icon=":material/warning:")
    else:
        st.caption(f"Every digit appears in at least 4% of 300 samples (judged by {judge_name}).")


# ----------------------------------------------------------------------------- state


S.setdefault("gan_playing", False)
S.setdefault("gan_pending", 0)
S.setdefault("gan_action", None)
stopped = S.gan_playing and "gan_live" in S and S.gan_live.take_stop_reason()
if stopped:  # the training thread stopped by itself: show Play, and why
    S.gan_playing = False
if "gan_preset" not in S:  # a link reopens the same preset and seed: read the URL once
    url_preset, url_seed, problems = gan.parse_query(st.query_params.to_dict())
    S.gan_preset, S.gan_seed = url_preset, url_seed
    S.gan_url_problems = problems

st.title("GAN live training")
st.markdown("A **generator** G turns random noise $z$ into images; a **discriminator** D "
            "scores how real an image looks. They train against each other: D learns to "
            "tell real digits from fakes, G learns to fool D. When D can no longer tell, "
            "its scores drift to **0.5**.")
if stopped:
    st.error(f"Training stopped: {stopped}", icon=":material/error:")
if S.get("gan_url_problems"):
    st.warning("Ignored in the link: " + "; ".join(S.pop("gan_url_problems")),
               icon=":material/link_off:")
preset = st.sidebar.selectbox("GAN preset", list(gan.PRESETS), key="gan_preset",
                              format_func={"mlp": "MLP (fast)", "dcgan": "DCGAN (conv)"}.get)
settings = settings_ui(preset)
speed = controls_ui()
query = {"preset": preset, "seed": str(settings["seed"])}
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)

with ui.user_errors("Could not start training: "):
    if S.gan_action == "pretrained" or "gan_model" not in S or (
            isinstance(S.gan_model, gan.GANCheckpoint) and S.gan_model.preset != preset):
        S.gan_action = None
        S.gan_model = load_pretrained(preset)
    elif S.gan_action == "reset":
        S.gan_action = None
        start_trainer(preset, settings, fresh=True)
    if (S.gan_playing or S.gan_pending) and isinstance(S.gan_model, gan.GANCheckpoint):
        start_trainer(S.gan_model.preset, settings, fresh=False)

model = S.gan_model
runner = None
if isinstance(model, gan.GANTrainer):
    if S.get("gan_live") is None or S.gan_live.trainer is not model:
        S.gan_live = LiveTraining(model)
    runner = S.gan_live
    runner.max_rate = speed
    changes = {k: v for k, v in live_settings(settings).items() if model.settings[k] != v}
    if changes:
        with runner.holding():  # between two slices of the training thread
            model.set(**changes)
    if S.gan_pending:
        n, S.gan_pending = S.gan_pending, 0
        try:
            runner.train(n)
        except ValueError as e:
            st.error(str(e), icon=":material/error:")
    if S.gan_playing:
        runner.play(alive=session_alive())
    elif runner.playing:
        runner.pause()
else:
    S.gan_playing = False
    S.pop("gan_live", None)
    st.info(f"Showing the **pretrained {model.preset} GAN** shipped with GenLab "
            f"({model.step:,} steps on {model.manifest.get('data_source', 'MNIST')}). "
            "**Play** keeps training it; **Reset** starts again from random weights.",
            icon=":material/info:")


def snapshot() -> dict:
    return runner.snapshot() if runner is not None else model.snapshot()


@st.fragment(run_every=TICK_S if S.gan_playing else None)
def live() -> None:
    """The step count and the fixed-noise grid, redrawn from the training thread's latest
    snapshot; the thread trains on meanwhile."""
    if runner is not None:
        runner.heartbeat()
        if S.gan_playing and not runner.playing:  # the thread stopped by itself:
            st.rerun()  # the whole page says why, shows Play, turns the timers off
    snap = snapshot()
    m = st.columns(2)
    m[0].metric("Step", f"{snap['step']:,}")
    m[1].metric("Steps / s", f"{runner.rate:,.0f}" if S.gan_playing else "paused")
    # While playing: 224 x 224 pixels, enlarged by the browser (crisp: see GRID_CSS), and no
    # download; encoding, sending and decoding a 4x-upscaled PNG twice a second took CPU from
    # training. Paused: the 896-pixel PNG, to download.
    with st.container(key="gan_grid_box"):
        ui.show_grid(snap["fixed"], 8, key="gan_grid", scale=1 if S.gan_playing else 4,
                     width="stretch", download=not S.gan_playing,
                     caption=f"The same 64 noise vectors through G at step {snap['step']:,}")


# charts redraw 8x less often than the grid, and the judge looks at fresh samples every 10 s:
# redrawing charts costs the browser more CPU than anything else on the page, and on a 2-core
# machine that CPU is taken from training (charts every 2 s: 62% of headless; every 5 s: 74%)
@st.fragment(run_every=CHART_S if S.gan_playing else None)
def charts() -> None:
    """The latest losses and D scores, their history, and the digits G draws."""
    snap = snapshot()
    h = snap["history"]
    last = {k: float(v[-1]) if len(v) else float("nan") for k, v in h.items()}
    m = st.columns(4)
    m[0].metric("D loss", f"{last['d_loss']:.3f}")
    m[1].metric("G loss", f"{last['g_loss']:.3f}")
    m[2].metric("D(x), real", f"{last['d_real']:.2f}")
    m[3].metric("D(G(z)), fake", f"{last['d_fake']:.2f}")
    if len(h["step"]):
        st.caption("**Losses**")
        st.vega_lite_chart(gan.history_chart(
            h, {"d_loss": ("D loss", "#1f4e9c"), "g_loss": ("G loss", "#d62728")}, "loss"),
            width="stretch", key="gan_loss_chart")
        st.caption("**Mean D score**: 1 = sure it is real, 0 = sure it is fake; dashed: 0.5, "
                   "where D cannot tell")
        st.vega_lite_chart(gan.history_chart(
            h, {"d_real": ("D(x) real", "#2ca02c"), "d_fake": ("D(G(z)) fake", "#ff7f0e")},
            "mean D score", rule=0.5), width="stretch", key="gan_score_chart")
    else:
        st.caption("Charts appear after the first training step.")
    shares_ui(snap["step"])


st.html(GRID_CSS)
left, right = st.columns([1, 1.25], gap="large")
with left:
    live()
with right:
    charts()

# ----------------------------------------------------------------------------- history, export

snap = snapshot()
steps, frames = snap["frames"]
st.subheader("Look back and export")
hist_col, export_col = st.columns([1, 1.25], gap="large")
with hist_col:
    if S.gan_playing:
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
    model_now = S.gan_model
    csv = gan.metrics_csv(snap["history"])
    st.download_button("Metrics (CSV)", csv, "gan_metrics.csv", "text/csv", key="gan_csv",
                       on_click="ignore", icon=":material/table:")
    if frames:
        st.download_button("History (animated GIF)", lambda: gan.history_gif(snap["frames"]),
                           "gan_history.gif", "image/gif", key="gan_gif", on_click="ignore",
                           icon=":material/animation:")

    def weights_zip() -> bytes:
        if isinstance(model_now, gan.GANTrainer):
            with S.gan_live.holding():
                data, manifest = model_now.checkpoint_bytes()
        else:
            path = gan.shipped_checkpoint_path(model_now.preset)
            data, manifest = path.read_bytes(), path.with_suffix(".json").read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"gan_{model_now.preset}.npz", data)
            z.writestr(f"gan_{model_now.preset}.json", manifest)
        return buf.getvalue()

    st.download_button("Weights (.npz + .json, zipped)", weights_zip, "gan_weights.zip",
                       "application/zip", key="gan_weights", on_click="ignore",
                       icon=":material/download:")
    st.caption("Weights load with `genlib.gan.load_checkpoint(path)` (numpy only) or "
               "`GANTrainer.load(path)` to keep training.")

# Outside the fragments: scored when the page runs (on open, pause, reset), not on every tick.
evaluation.quality_panel(snap["fixed"], mnist, key="gan_quality")
