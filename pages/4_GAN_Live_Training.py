"""Train a GAN live: watch a generator and a discriminator learn to make digits, step by step."""

import io
import time
import zipfile

import numpy as np
import pandas as pd
import streamlit as st

import evaluation_ui
import ui
from genlib import gan

mnist = ui.setup_page("GAN Live Training", ":material/sports_esports:")

TICK_S = 0.5  # grid refresh period while playing (2 per second)
CHART_S = 2.0  # chart refresh period while playing
BUDGET_S = 0.42  # training time per refresh at full speed; the rest draws the page
SPEEDS = {"Slow motion: 1 step": 1, "10 steps": 10, "100 steps": 100, "Full speed": None}
LRS = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2]
S = st.session_state


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
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="gan_seed")
    return {"lr_g": lr_g, "lr_d": lr_d, "batch_size": batch, "d_steps": d_steps, "loss": loss,
            "label_smoothing": smooth, "latent_dim": latent, "output": output, "seed": int(seed)}


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


def controls_ui() -> tuple[int | None, int]:
    """Play / pause / step / reset row; returns (steps per refresh or None for full, step N)."""
    cols = st.columns([1, 1, 1.3, 1, 1, 2.2], vertical_alignment="bottom")
    if S.gan_playing:
        cols[0].button("Pause", key="gan_pause", icon=":material/pause:", type="primary",
                       width="stretch", on_click=lambda: S.update(gan_playing=False))
    else:
        cols[0].button("Play", key="gan_play", icon=":material/play_arrow:", type="primary",
                       width="stretch", on_click=lambda: S.update(gan_playing=True))
    n = cols[2].number_input("Steps", 1, 5000, 1, key="gan_step_n")
    cols[1].button("Step", key="gan_step", icon=":material/skip_next:", width="stretch",
                   on_click=lambda: S.update(gan_pending=S.gan_pending + int(S.gan_step_n)))
    cols[3].button("Reset", key="gan_reset", icon=":material/restart_alt:", width="stretch",
                   help="New random weights with the current settings and seed",
                   on_click=lambda: S.update(gan_action="reset", gan_playing=False))
    cols[4].button("Pretrained", key="gan_pretrained", icon=":material/replay:",
                   width="stretch", help="Back to the shipped, already trained GAN",
                   on_click=lambda: S.update(gan_action="pretrained", gan_playing=False))
    speed = cols[5].select_slider("Speed per refresh", list(SPEEDS), "Full speed",
                                  key="gan_speed")
    return SPEEDS[speed], n


def history_frame(history: dict, cols: dict, max_points: int = 300) -> pd.DataFrame:
    stride = max(1, len(history["step"]) // max_points)
    df = pd.DataFrame({label: history[k][::stride] for k, label in cols.items()},
                      index=pd.Index(history["step"][::stride], name="step"))
    return df


def shares_ui(model, step: int) -> None:
    """Share of each digit among 300 samples, judged at most every few seconds."""
    cached = S.get("gan_shares")
    if cached is None or cached[0] != (id(model), step):
        judge, judge_name = load_judge(mnist.source, mnist)
        shares = gan.digit_shares(judge.predict(model.sample(300, rng=step)))
        cached = S.gan_shares = ((id(model), step), (shares, judge_name))
    shares, judge_name = cached[1]
    st.caption("**Which digits does G draw?** Shares among 300 fresh samples")
    st.bar_chart(pd.DataFrame({"share of samples": shares}, index=[str(k) for k in range(10)]),
                 height=200, x_label="digit", y_label="share", color="#1f4e9c")
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

st.title("GAN live training")
st.markdown("A **generator** G turns random noise $z$ into images; a **discriminator** D "
            "scores how real an image looks. They train against each other: D learns to "
            "tell real digits from fakes, G learns to fool D. When D can no longer tell, "
            "its scores drift to **0.5**.")
preset = st.sidebar.selectbox("GAN preset", list(gan.PRESETS), key="gan_preset",
                              format_func={"mlp": "MLP (fast)", "dcgan": "DCGAN (conv)"}.get)
settings = settings_ui(preset)
speed, _ = controls_ui()

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
    if isinstance(S.gan_model, gan.GANTrainer):
        S.gan_model.set(**live_settings(settings))

model = S.gan_model
if isinstance(model, gan.GANCheckpoint):
    S.gan_playing = False
    st.info(f"Showing the **pretrained {model.preset} GAN** shipped with GenLab "
            f"({model.step:,} steps on {model.manifest.get('data_source', 'MNIST')}). "
            "**Play** keeps training it; **Reset** starts again from random weights.",
            icon=":material/info:")


def train_slice(pending: bool) -> None:
    """Train the steps asked for with Step (pending) or one refresh's slice (playing)."""
    if not isinstance(model, gan.GANTrainer) or not (S.gan_pending if pending else S.gan_playing):
        return
    t0, step0 = time.perf_counter(), model.step
    try:
        if pending:
            model.train(S.gan_pending)
        else:
            model.train_for(BUDGET_S) if speed is None else model.train(speed)
            S.gan_rate = (model.step - step0) / max(time.perf_counter() - t0, 1e-6)
    except ValueError as e:
        S.gan_playing = False
        S.gan_error = str(e)
        st.rerun()  # stop the refresh timer and show the message
    finally:
        S.gan_pending = 0


@st.fragment(run_every=TICK_S if S.gan_playing else None)
def live() -> None:
    """Draw the step count and the grid, then train the next slice while playing (drawing
    first keeps the elements from fading as 'stale' during the training)."""
    train_slice(pending=True)
    if S.get("gan_error"):
        st.error(S.pop("gan_error"), icon=":material/error:")
    snap = S.gan_snap = model.snapshot()
    m = st.columns(2)
    m[0].metric("Step", f"{snap['step']:,}")
    m[1].metric("Steps / s", f"{S.get('gan_rate', 0.0):,.0f}" if S.gan_playing else "paused")
    ui.show_grid(snap["fixed"], 8, key="gan_grid", scale=4,
                 caption=f"The same 64 noise vectors through G at step {snap['step']:,}")
    train_slice(pending=False)


# charts redraw 4x less often than the grid: re-rendering them costs the browser more CPU
# than anything else on the page, and that CPU is taken from training on a 2-core machine
@st.fragment(run_every=CHART_S if S.gan_playing else None)
def charts() -> None:
    """The latest losses and D scores, their history, and the digits G draws."""
    h = S.gan_snap["history"]
    last = {k: float(v[-1]) if len(v) else float("nan") for k, v in h.items()}
    m = st.columns(4)
    m[0].metric("D loss", f"{last['d_loss']:.3f}")
    m[1].metric("G loss", f"{last['g_loss']:.3f}")
    m[2].metric("D(x), real", f"{last['d_real']:.2f}")
    m[3].metric("D(G(z)), fake", f"{last['d_fake']:.2f}")
    if len(h["step"]):
        st.caption("**Losses**")
        st.line_chart(history_frame(h, {"d_loss": "D loss", "g_loss": "G loss"}),
                      height=220, color=["#1f4e9c", "#d62728"])
        st.caption("**Mean D score**: 1 = sure it is real, 0 = sure it is fake")
        df = history_frame(h, {"d_real": "D(x) real", "d_fake": "D(G(z)) fake"})
        df["0.5: cannot tell"] = 0.5
        st.line_chart(df, height=220, color=["#2ca02c", "#ff7f0e", "#888888"])
    else:
        st.caption("Charts appear after the first training step.")
    shares_ui(model, S.gan_snap["step"])


left, right = st.columns([1, 1.25], gap="large")
with left:
    live()
with right:
    charts()

# ----------------------------------------------------------------------------- history, export

snap = S.gan_snap
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
evaluation_ui.quality_panel(S.gan_snap["fixed"], mnist, key="gan_quality")
