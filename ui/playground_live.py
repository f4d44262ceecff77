"""The 2-D playground's live training: one :class:`genlib.live.LiveTraining` per panel
("a", and "b" in side-by-side mode), driven by Play / Pause / Step / Reset.

States of a panel: ``new`` (nothing trained yet), ``starting`` (TensorFlow loading, the
trainer being built in the training thread, the click kept), ``playing``, ``paused``.
A panel's trainer belongs to one (family, dataset, seed): changing any of them starts
afresh (the old one is released). Buttons only set flags in session state (callbacks run
before the script); :meth:`PanelLive.sync` carries them out, as the GAN page does.
Every trainer counts against the server's cap (:mod:`ui.trainer_cap`, with the GAN and
Diffusion pages'): past it, Play and Step say so and the panel keeps its training points.
"""

from __future__ import annotations

import streamlit as st

from genlib.live import LiveTraining
from ui import trainer_cap, warmup

S = st.session_state
STEP_N = 100  # steps per Step click


def session_alive():
    """A thread-safe "is this browser session still connected?" (always true in AppTest)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if not Runtime.exists() or ctx is None:
        return lambda: True
    runtime, session = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session)


# ----------------------------------------------------------------------------- callbacks


def refused(slot: str) -> bool:
    """A click asking for a trainer the panel does not hold while the server holds
    ``trainer_cap.max_trainers()`` already (the GAN and Diffusion pages' count too). Checked
    in the callbacks, so the buttons drawn next match; :meth:`PanelLive.sync` checks again
    under the cap's lock."""
    held = S.get(f"pg_live_{slot}")
    if held is not None and not held[1].released and not held[1].failed:
        return False
    if trainer_cap.active_trainers() < trainer_cap.max_trainers():
        return False
    S[f"pg_capped_{slot}"] = True  # said by the next run (PanelLive.sync)
    return True


def play(slot: str) -> None:
    if not refused(slot):
        S[f"pg_playing_{slot}"] = True


def pause(slot: str) -> None:
    S[f"pg_playing_{slot}"] = False
    held = S.get(f"pg_live_{slot}")
    if held is not None:
        held[1].pause()


def step(slot: str) -> None:
    pause(slot)
    if not refused(slot):
        S[f"pg_pending_{slot}"] = S.get(f"pg_pending_{slot}", 0) + STEP_N


def reset(slot: str) -> None:
    pause(slot)
    S[f"pg_reset_{slot}"] = True


def _builder(family: str, train_points, seed: int, lr: float):
    def build():
        PointTrainer = warmup.trainer_class("genlib.playground_train", "PointTrainer")
        return PointTrainer(family, train_points, seed=seed, lr=lr).warm_up()
    return build


class PanelLive:
    """One script run's view of a panel's training (see the module docstring)."""

    def __init__(self, slot: str, family: str, data_key: tuple, train_points, seed: int,
                 lr: float):
        self.slot = slot
        key = (family, data_key, seed)
        S.setdefault(f"pg_playing_{slot}", False)
        held = S.get(f"pg_live_{slot}")
        reset_asked = S.pop(f"pg_reset_{slot}", False)
        self.stopped = None
        if held is not None and (held[0] != key or reset_asked or held[1].released):
            self._drop()
            held = None
        if held is not None:
            runner = held[1]
            # the thread stopped by itself (an error, no refresh, the session gone): say why
            # and show Play; a Pause by the user leaves no reason
            reason = runner.take_stop_reason() if (
                S[f"pg_playing_{slot}"] or runner.failed) else None
            if reason or runner.failed:
                self.stopped = reason or "the trainer could not be built"
                S[f"pg_playing_{slot}"] = False
                if runner.failed:
                    self._drop()
                    held = None
        self.key, self.lr = key, lr
        # a new snapshot every 0.1 s: each of the 4 redraws a second finds a fresh one
        self._make = lambda: LiveTraining(build=_builder(family, train_points, seed, lr),
                                          publish_s=0.1)
        self.runner: LiveTraining | None = held[1] if held is not None else None
        self.drawn = None

    def _drop(self) -> None:
        held = S.pop(f"pg_live_{self.slot}", None)
        if held is not None and not held[1].released:
            held[1].release()

    @property
    def playing(self) -> bool:
        return bool(S.get(f"pg_playing_{self.slot}"))

    @property
    def state(self) -> str:
        r = self.runner
        if r is None:
            return "new"
        if r.starting:
            return "starting"
        return "playing" if self.playing and r.running else "paused"

    @property
    def ticking(self) -> bool:
        r = self.runner
        return self.playing or (r is not None and (r.starting or r.running))

    def sync(self) -> None:
        """Carry out Play / Step asked for, and the learning rate shown."""
        pending = S.pop(f"pg_pending_{self.slot}", 0)
        capped = S.pop(f"pg_capped_{self.slot}", False)
        if (self.playing or pending) and self.runner is None:
            self.runner = trainer_cap.claim(self._make)  # one cap with the GAN and Diffusion
            if self.runner is None:
                S[f"pg_playing_{self.slot}"], capped = False, True
            else:
                S[f"pg_live_{self.slot}"] = (self.key, self.runner)
        if capped:
            st.warning(trainer_cap.refusal(
                "this panel cannot train now: it shows the training points, and the "
                "Gaussian, mixture and KDE models (no trainer needed) still work"),
                icon=":material/group:")
        r = self.runner
        if r is None:
            return
        if r.trainer is not None and getattr(r.trainer, "lr", self.lr) != self.lr:
            with r.holding():  # between two slices of the training thread
                r.trainer.set(lr=self.lr)
        if pending:
            try:
                r.train(pending)
            except ValueError as e:
                st.error(str(e), icon=":material/error:")
        if self.playing:
            r.play(alive=session_alive())
        elif r.playing:
            r.pause()
        self.drawn = self.state

    def snapshot(self) -> dict | None:
        return self.runner.snapshot() if self.runner is not None else None

    def heartbeat(self) -> bool:
        """From the live fragment: keep training; False when the state changed since the
        page was drawn (the trainer got built, training stopped): the page reruns."""
        if self.runner is None:
            return True
        self.runner.heartbeat()
        return self.state == self.drawn and not (self.playing and not self.runner.running
                                                 and not self.runner.starting)

    def status(self) -> str:
        r = self.runner
        if r is None:
            return "Not trained yet: press Play or Step."
        if r.starting:
            if not warmup.ready() and "could not" not in warmup.status():
                return warmup.status().replace("in the background ", "")
            return "Building the networks and compiling the training step..."
        if self.playing and r.running:
            return f"Training: {r.rate:,.0f} steps/s"
        return "Paused"
