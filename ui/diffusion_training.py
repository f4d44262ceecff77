"""The Diffusion page's Training tab: continue or restart training in the background.

A :class:`genlib.live.LiveTraining` thread runs :class:`genlib.diffusion_train.DiffusionTrainer`
(TensorFlow, imported in that thread after :mod:`ui.warmup` started loading it when the tab
was opened) for a number of steps chosen on the page; a fragment refreshes the progress bar
and the fixed-noise grid (one digit per class, the same noise every time) once a second.
Cancel stops and saves nothing; at the goal the EMA weights are saved, atomically, to the
user's cache folder (``genlib.diffusion_train.user_weights_path``), never over the shipped
file, and the page can then sample with them. The training counts against the server's cap
on live trainers (:mod:`ui.trainer_cap`, shared with the GAN and Playground pages): past it,
Train says so and the other tabs keep sampling.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

import ui
from genlib import diffusion as df
from genlib.live import LiveTraining
from ui import diffusion_view as dv
from ui import trainer_cap, warmup
from ui.gan_controller import session_alive

STARTS = {"continue": "Continue the shipped model", "restart": "Restart from scratch",
          "mine": "Continue my last training"}
REFRESH_S = 1.0


class GoalTrainer:
    """A trainer that stops taking steps at ``goal``: what LiveTraining drives."""

    def __init__(self, trainer, n_steps: int):
        self.inner = trainer
        self.start = trainer.step
        self.goal = trainer.step + int(n_steps)

    @property
    def step(self) -> int:
        return self.inner.step

    def _left(self, cap=None) -> int:
        left = self.goal - self.inner.step
        return left if cap is None else min(left, int(cap))

    def train(self, steps: int) -> dict:
        return self.inner.train(max(0, self._left(steps)))

    def train_for(self, seconds: float, max_steps: int | None = None) -> dict:
        if self._left() <= 0:  # done: idle until the page saves and stops the thread
            time.sleep(min(seconds, 0.1))
            return {"steps": 0, "loss": float("nan")}
        return self.inner.train_for(seconds, self._left(max_steps))

    def snapshot(self) -> dict:
        return {**self.inner.snapshot(), "start": self.start, "goal": self.goal,
                "done": self.inner.step >= self.goal}

    def close(self) -> None:
        self.inner = None


def _builder(preset: str, how: str, n_steps: int, seed: int, mnist):
    def build():
        DiffusionTrainer = warmup.trainer_class("genlib.diffusion_train", "DiffusionTrainer")
        trainer = DiffusionTrainer(preset, mnist=mnist, seed=seed)
        if how == "continue":
            trainer.restore(df.shipped_path(preset))
        elif how == "mine":
            trainer.restore(_user_path(preset))
        return GoalTrainer(trainer, n_steps)
    return build


def _start(preset: str, mnist) -> None:
    ss = st.session_state
    _stop()
    runner = trainer_cap.claim(lambda: LiveTraining(  # one cap with the GAN and Playground
        build=_builder(preset, ss["df_t_start"], int(ss["df_t_steps"]), int(ss["df_t_seed"]),
                       mnist), slice_s=0.2, publish_s=REFRESH_S, idle_s=120))
    if runner is None:
        ss["df_t_capped"] = trainer_cap.refusal(
            "training cannot start now; every other tab keeps sampling with the shipped "
            "model (or your last saved training)")
        return
    runner.play(alive=session_alive())
    ss["df_runner"], ss["df_t_message"] = runner, None


def _stop(message: str | None = None) -> None:
    ss = st.session_state
    runner = ss.pop("df_runner", None)
    if runner is not None:
        runner.release()
    ss["df_t_message"] = message


def _use_mine() -> None:
    st.session_state["df_mine"] = st.session_state["df_mine_toggle"]


def training_ui(preset: str, mnist) -> None:
    """The tab: settings and Train, or the live progress with Cancel; then the saved file."""
    warmup.start()  # the tab is open: load TensorFlow while the user reads it
    ss = st.session_state
    path = dv.model_source(preset, True)[1]
    st.markdown(
        "Train the flow-matching model here, in the background: TensorFlow runs in a thread "
        "of the server while this page shows its progress and the same ten noises (one per "
        "digit) turned into digits by the model as it is now. The result is saved to your "
        f"cache folder (`{_user_path(preset)}`); the shipped model is never "
        "replaced.")
    message = ss.get("df_t_message")
    if message:
        st.info(message, icon=":material/info:")
    capped = ss.pop("df_t_capped", None)  # Train was refused: the server's trainers are full
    if capped:
        st.warning(capped, icon=":material/group:")
    runner: LiveTraining | None = ss.get("df_runner")
    settings_ui(preset, mnist, running=runner is not None)  # drawn always: keeps its values
    if runner is not None:
        live(preset, runner)
    if path is not None:
        st.toggle("Sample with my trained weights (every tab)", value=bool(ss.get("df_mine")),
                  key="df_mine_toggle", on_change=_use_mine,
                  help=f"Your last training, saved at {path}")


def _user_path(preset: str):
    from genlib import diffusion_train as dtr

    return dtr.user_weights_path(preset)


def settings_ui(preset: str, mnist, running: bool) -> None:
    """Where to start, how many steps, the seed; Train when not training (the next run
    takes any change)."""
    a, b, c = st.columns([2, 1.2, 1])
    starts = [k for k in STARTS if k != "mine" or _user_path(preset).exists()]
    a.radio("Start from", starts, format_func=STARTS.get, key="df_t_start",
            help="Continue: the shipped weights, Adam's state and step count (31,000 steps). "
                 "Restart: new random weights; digits appear after ~2,000 steps. My last "
                 "training: the file saved here before (it is then replaced).")
    b.number_input("Steps to train", 100, 50_000, 2_000, step=100, key="df_t_steps",
                   help="About 100-200 steps a second on two free cores")
    c.number_input("Seed", 0, 2**31 - 1, 0, key="df_t_seed")
    if not running:
        st.button("Train", key="df_t_go", type="primary", icon=":material/model_training:",
                  on_click=_start, args=(preset, mnist))
    st.caption(f"On the training digits of {ui.plain(mnist.source)} "
               f"({len(mnist.train):,}). {warmup.status()}")


def live(preset: str, runner: LiveTraining) -> None:
    st.button("Cancel training", key="df_t_cancel", icon=":material/cancel:",
              on_click=_stop, args=("Training cancelled; nothing was saved.",))

    @st.fragment(run_every=REFRESH_S)
    def progress() -> None:
        runner.heartbeat()
        snap = runner.snapshot()
        reason = runner.take_stop_reason()
        if reason and not (snap and snap.get("done")):
            _stop(f"Training stopped: {reason}. Nothing was saved.")
            st.rerun()
        if snap is None:
            st.progress(0.0, text=f"Building the model... {warmup.status()}")
            return
        done = snap["step"] - snap["start"]
        total = snap["goal"] - snap["start"]
        loss = "" if snap.get("loss") is None else f", loss {snap['loss']:.4f}"
        st.progress(min(done / max(total, 1), 1.0),
                    text=f"Step {snap['step']:,} ({done:,} of {total:,} this run{loss}, "
                         f"{runner.rate:.0f} steps/s)")
        ui.show_grid(np.asarray(snap["images"]), 10, key="df_t_grid", scale=3, download=False,
                     caption="The same ten noises, one per digit, sampled by the model as it "
                             "is now (guidance and steps: the preset's defaults)")
        if snap.get("done"):
            save(preset, runner, snap)
            st.rerun()

    progress()


def save(preset: str, runner: LiveTraining, snap: dict) -> None:
    """At the goal: stop, write the user's file atomically, free the trainer."""
    runner.pause()
    path = _user_path(preset)
    try:
        with runner.holding() as trainer:
            trainer.inner.save(path, command="the Diffusion page's Training tab")
        message = (f"Trained to step {snap['step']:,} and saved to {path}. Turn on *Sample "
                   "with my trained weights* to use it on every tab.")
    except (ValueError, OSError) as e:
        message = f"Training finished but could not be saved: {e}"
    _stop(message)
