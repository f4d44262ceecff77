"""The GAN page's state machine, so the page itself is layout only.

What the page shows is one of:

``checkpoint``  a saved generator (:class:`genlib.gan.GAN`, numpy only, no TensorFlow)
``starting``    Play or Step was pressed; the trainer is being built in the background
                (TensorFlow loading, the train step compiling): the click is kept and
                carried out as soon as the trainer exists
``playing``     a :class:`genlib.gan_train.GANTrainer` training in the background thread of
                :class:`genlib.live.LiveTraining`
``paused``      the same trainer, waiting for Play or Step
``none``        no model: the shipped checkpoint is missing or damaged (the page says which
                file and offers the other preset or training from random weights)

Buttons only record what was asked (their callbacks run before the script); :meth:`sync`,
called once per run after the widgets are drawn, makes it happen and never waits for
TensorFlow. Everything per user lives in ``st.session_state`` under ``gan_*`` keys (never
module globals: they are shared by every tab): ``gan_model`` is the checkpoint shown (or
None), ``gan_live`` the training session (its trainer is only ever reached through it).
Nothing reads a key without ``S.get``: a run can be cut short between two writes (Streamlit
checks for a new rerun request on every session-state access), and ``st.session_state has
no key "gan_model"`` came from reading one that an interrupted run had not written.
The page link carries ``preset`` and ``seed`` (read once per session by :func:`read_link`).
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref

import streamlit as st

import ui
from genlib import gan
from genlib.live import LiveTraining
from ui import evaluation, warmup

S = st.session_state
SHARES_S = 10.0  # judge fresh samples at most this often while playing
N_SHARES = 300  # samples the judge labels for the digit shares
SLOW_RATE = 30.0  # steps/s under which the page suggests something faster
# A Play that starts an mlp trainer (numpy at once, see genlib.gan_numpy_start) waits at most
# this long in its own run for the first steps, so this run draws them: otherwise they showed
# only after the next whole run of the page (~3 s beside TensorFlow's import).
FIRST_STEPS_WAIT_S = 1.0
# A server-wide cap on trainers held at once (each ~171 MiB and a share of the CPU): past it a
# session keeps the pretrained model and is told why. `genlab run --max-trainers N` sets it.
MAX_TRAINERS_ENV = "GENLAB_MAX_TRAINERS"
DEFAULT_MAX_TRAINERS = 12
_trainers: weakref.WeakSet = weakref.WeakSet()  # every session's LiveTraining, this process
_trainers_lock = threading.Lock()


def max_trainers() -> int:
    """The cap: ``$GENLAB_MAX_TRAINERS`` (0 forbids training), else 12; a bad value is logged
    and the default used."""
    raw = os.environ.get(MAX_TRAINERS_ENV, "").strip()
    if raw.isdigit():
        return int(raw)
    if raw:
        ui.log.warning("%s=%r is not a whole number >= 0; using %d", MAX_TRAINERS_ENV, raw,
                       DEFAULT_MAX_TRAINERS)
    return DEFAULT_MAX_TRAINERS


def active_trainers() -> int:
    """Training sessions of every browser session that still hold (or build) a trainer."""
    return sum(1 for r in list(_trainers) if not r.released and not r.failed)


@st.cache_resource(show_spinner="Loading the pretrained GAN...", max_entries=4)
def load_pretrained(path: str) -> gan.GAN:
    """A shipped checkpoint, shared read-only by every session (keyed by its path)."""
    return gan.GAN.load(path)


_precompiled = threading.Event()
_precompile_lock = threading.Lock()


def _precompile() -> None:
    if not warmup.wait():
        return
    try:
        from genlib.gan_train import precompile

        precompile("mlp")  # the default preset with its default settings
    except Exception:  # noqa: BLE001 -- a warm-up only: training will say what is wrong
        pass
    finally:
        _precompiled.set()


def warm_up() -> None:
    """When the page opens: import TensorFlow in the background (ui.warmup), then compile
    the default preset's train step once per process (shared by every session), so the
    first Play finds both done. Never waits."""
    warmup.start()
    with _precompile_lock:
        if not getattr(warm_up, "started", False):
            warm_up.started = True
            threading.Thread(target=_precompile, name="genlab-gan-precompile",
                             daemon=True).start()


# ----------------------------------------------------------------------------- the link


def parse_link(params: dict) -> tuple[str, int, list[str]]:
    """(preset, seed, problems) from a page link's query parameters ``preset`` and ``seed``.

    Missing values take the defaults ("mlp", 0); bad ones too, each described in ``problems``
    (the page shows them), so a hand-edited link never breaks the page.

    Why not ``bind="query-params"`` on the two widgets: Streamlit 1.67 seeds a bound
    number_input from the URL before any check (``?seed=inf`` raised OverflowError inside
    it), drops other bad values without a word, and renames the parameters to the widget
    keys (``gan_seed``), which would break the links people already share.
    """
    preset, seed, problems = "mlp", 0, []

    def shown(raw) -> str:  # a hostile link may carry a very long value
        text = str(raw)
        return repr(text if len(text) <= 40 else text[:40] + "...")

    raw = params.get("preset")
    if raw is not None:
        if raw in gan.PRESETS:
            preset = raw
        else:
            problems.append(f"preset {shown(raw)} is not one of {', '.join(gan.PRESETS)}")
    raw = params.get("seed")
    if raw is not None:
        text = str(raw).strip()
        try:
            # ASCII digits only, at most 10 (the bound's): int() also takes "1_000", "٣",
            # and would parse an 80-digit number; float forms (inf, nan, 1e400) never pass
            if not re.fullmatch(r"[0-9]{1,10}", text):
                raise ValueError
            seed = gan.check_seed(int(text))
        except ValueError:
            problems.append(f"seed {shown(raw)} is not a whole number from 0 to {gan.MAX_SEED}")
    return preset, seed, problems


def read_link() -> list[str]:
    """Set the preset and seed widgets from the link, once per session; the problems found."""
    if "gan_preset" in S:
        return []
    S.gan_preset, S.gan_seed, problems = parse_link(st.query_params.to_dict())
    return problems


def write_link(preset: str, seed: int) -> None:
    """Keep the link in the address bar pointing at what is shown (other parameters, e.g.
    another page's or a presenter's, are left as they are)."""
    for key, value in (("preset", preset), ("seed", str(seed))):
        if st.query_params.get(key) != value:
            st.query_params[key] = value


# ----------------------------------------------------------------------------- button callbacks


def over_cap(fresh: bool = False) -> bool:
    """A click asking for a trainer (Play, Step; ``fresh``: Reset, which drops this session's
    own) cannot have one: the server holds :func:`max_trainers` already. Checked in the
    callbacks, so the buttons drawn next match; :meth:`GANController._start` checks again
    under the lock."""
    own = S.get("gan_live")
    has_own = own is not None and not own.released and not own.failed
    if has_own and not fresh:
        return False
    if active_trainers() - (1 if has_own else 0) < max_trainers():
        return False
    S.gan_capped = True  # said by the next run (GANController.capped)
    return True


def play() -> None:
    if not over_cap():
        S.gan_playing = True


def pause() -> None:
    S.gan_playing = False
    runner = S.get("gan_live")
    if runner is not None:
        runner.pause()  # waits for the slice in progress: the next draw is final


def step() -> None:
    pause()
    if over_cap():
        return
    S.gan_pending = S.get("gan_pending", 0) + int(S.get("gan_step_n", 1))


def reset() -> None:
    pause()
    if over_cap(fresh=True):
        return
    S.gan_action = "reset"


def pretrained() -> None:
    pause()
    S.gan_action = "pretrained"


def open_preset(preset: str) -> None:
    """Show another preset's pretrained GAN (offered when this one's file is damaged)."""
    pause()
    S.gan_preset = preset
    S.gan_action = "pretrained"


# ----------------------------------------------------------------------------- the controller


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


def live_settings(settings: dict) -> dict:
    """The settings a running trainer takes at once (all but the architecture and seed)."""
    return {k: v for k, v in settings.items() if k not in (*gan.ARCHITECTURE, "seed")}


def _builder(preset: str, settings: dict, fresh: bool, images):
    """What the training thread calls to make the trainer: the mlp's at once (it trains on
    numpy until its TensorFlow side is built in the background), the dcgan's once TensorFlow
    has loaded (numpy convolution backprop would be too slow to be worth it)."""
    def build():
        if preset == "mlp":  # (the page starts TensorFlow's import once it is drawn)
            from genlib.gan_numpy_start import NumpyStartTrainer as GANTrainer
        else:
            GANTrainer = warmup.trainer_class("genlib.gan_train", "GANTrainer")
        # jit_later: the first steps run without XLA while XLA compiles (4x quicker to start)
        if fresh:
            trainer = GANTrainer(preset, images=images, jit_later=True, **settings)
        else:
            trainer = GANTrainer.load(gan.shipped_checkpoint_path(preset), images=images,
                                      jit_later=True, **live_settings(settings))
        return trainer.warm_up()  # compile now (or find it compiled), not in the first slice
    return build


def numpy_status(trainer) -> str:
    """The status line of a trainer still on its numpy step (NumpyStartTrainer)."""
    if trainer.tf_error:
        return f"Training in numpy (TensorFlow could not be loaded: {trainer.tf_error})"
    if not warmup.ready():
        return ("Training in numpy while TensorFlow loads; TensorFlow takes over as soon as "
                "it is ready")
    return "Training in numpy while TensorFlow's training step is built (a moment)"


class GANController:
    """One script run's view of the page state; see the module docstring.

    Attributes (after :meth:`sync`)
    -------------------------------
    model : what is shown: the trainer once built, else the checkpoint (a ``GAN``), or None
    runner : the ``LiveTraining`` session (possibly still building its trainer), else None
    stopped : why the training thread stopped by itself since the last run, or None
    damaged : the error of a shipped checkpoint that could not be read, or None
    """

    def __init__(self, mnist):
        self.mnist = mnist
        S.setdefault("gan_playing", False)
        S.setdefault("gan_pending", 0)
        S.setdefault("gan_action", None)
        self.link_problems = read_link()
        runner = S.get("gan_live")
        self.stopped = runner.take_stop_reason() if runner is not None and (
            S.gan_playing or runner.failed) else None
        if self.stopped:  # the training thread stopped by itself: show Play, and why
            S.gan_playing = False
        self.damaged: str | None = None
        self.runner: LiveTraining | None = None
        self.model = S.get("gan_model")
        self.drawn_state = "none"
        self._first_drawn = False
        self._started_now: str | None = None  # the preset of a trainer started in this run
        # a trainer was refused: the server holds max_trainers() already
        self.capped, S.gan_capped = bool(S.get("gan_capped")), False

    @property
    def playing(self) -> bool:
        return bool(S.get("gan_playing"))

    @property
    def ticking(self) -> bool:
        """The page refreshes by itself: playing, or a trainer being built for a click."""
        return self.playing or (self.runner is not None and (
            self.runner.starting or self.runner.running))

    @property
    def state(self) -> str:
        runner = self.runner
        if runner is None:
            return "none" if self.model is None else "checkpoint"
        if runner.starting:
            return "starting"
        if self.playing:
            return "playing" if runner.playing else "starting"
        return "paused"

    def status(self) -> str:
        """One line saying what is happening (TensorFlow loading, compiling, training)."""
        runner = self.runner
        if runner is not None and runner.starting:
            if not warmup.ready() and "could not" not in warmup.status():
                return warmup.status().replace("in the background ", "")
            return "Compiling the training step..."
        if runner is None or not runner.running:
            return "Paused" if runner is not None else "Pretrained checkpoint (no training)"
        if getattr(runner.trainer, "on_numpy", False):
            return numpy_status(runner.trainer)
        if getattr(runner.trainer, "compiling", False):
            return "Training (without XLA while XLA compiles: about twice as fast soon)"
        return "Training"

    # -- transitions

    def sync(self, preset: str, settings: dict, speed: float | None) -> None:
        """Carry out what the buttons asked for, then drive the training thread."""
        action, S.gan_action = S.get("gan_action"), None
        runner = S.get("gan_live")
        if runner is not None and (runner.released or runner.failed):
            runner = self._drop_runner()
        with ui.user_errors("Could not start training: "):
            if action == "reset":
                runner = self._start(preset, settings, fresh=True)
            elif action == "pretrained" or (runner is None and (
                    S.get("gan_model") is None or S.gan_model.preset != preset)):
                self._drop_runner()
                runner = None
                self._load_pretrained(preset)
            if (S.get("gan_playing") or S.get("gan_pending")) and runner is None:
                # from the checkpoint shown, or from random weights when there is none
                shown = S.get("gan_model")
                runner = self._start(preset if shown is None else shown.preset, settings,
                                     fresh=shown is None)
        self.runner = runner
        if self.capped:
            if S.get("gan_model") is None:
                self._load_pretrained(preset)
            st.warning(f"**This server is training {active_trainers()} models already**, its "
                       f"limit ({MAX_TRAINERS_ENV}={max_trainers()}), so you see the "
                       "pretrained model instead of a new trainer. Try Play again in a "
                       "minute: a trainer is freed when its tab closes.", icon=":material/group:")
        if runner is not None:
            self.damaged = None  # training from random weights instead: nothing to report
            self._drive(settings, speed)
        else:
            S.gan_playing = False
            S.gan_pending = 0
        self.model = runner.trainer if runner is not None and runner.trainer is not None \
            else S.get("gan_model")
        self.drawn_state = self.state

    def _drop_runner(self) -> None:
        runner = S.pop("gan_live", None)
        if runner is not None and not runner.released:
            runner.release()  # its networks go now, not when the session expires

    def _load_pretrained(self, preset: str) -> None:
        try:
            S.gan_model = load_pretrained(str(gan.shipped_checkpoint_path(preset)))
        except ValueError as e:  # damaged or missing: say which file, carry on without it
            S.gan_model = None
            self.damaged = str(e)

    def _start(self, preset: str, settings: dict, fresh: bool) -> LiveTraining | None:
        """A new training session whose thread builds the trainer (from scratch, or from the
        checkpoint shown); until then it shows the checkpoint's picture. Returns at once;
        None when the server holds :func:`max_trainers` already (``capped``)."""
        self._drop_runner()
        shown = S.get("gan_model")
        from ui import trainer_cap  # it imports this module

        # counted under the cap's lock (two sessions pressing Play at once cannot both pass
        # it) and watched by its reaper (a paused trainer of a closed tab is freed)
        runner = trainer_cap.claim(lambda: LiveTraining(
            build=_builder(preset, dict(settings), fresh, self.mnist.train.images),
            initial=shown.snapshot() if shown is not None else None))
        if runner is None:
            self.capped = True
            return None
        S.gan_live = runner
        runner.build()  # at once, even if paused (Reset): the thread builds it
        self._started_now = preset
        self._start_step = shown.step if shown is not None and not fresh else 0
        return runner

    def _drive(self, settings: dict, speed: float | None) -> None:
        """Settings, pending Steps, Play and Pause for the session shown."""
        runner = self.runner
        runner.max_rate = speed
        if runner.trainer is not None and not runner.starting:
            changes = {k: v for k, v in live_settings(settings).items()
                       if runner.trainer.settings[k] != v}
            if changes:
                with runner.holding():  # between two slices of the training thread
                    runner.trainer.set(**changes)
        pending, S.gan_pending = S.get("gan_pending", 0), 0
        if pending:
            try:
                runner.train(pending)  # queued if the trainer is still being built
            except ValueError as e:
                st.error(str(e), icon=":material/error:")
        if S.get("gan_playing"):
            runner.play(alive=session_alive())
            if self._started_now == "mlp":
                self._await_first_steps()
        elif runner.playing:
            runner.pause()

    def _await_first_steps(self) -> None:
        """Wait (at most FIRST_STEPS_WAIT_S) until the new numpy trainer published a step."""
        runner = self.runner
        deadline = time.monotonic() + FIRST_STEPS_WAIT_S
        while time.monotonic() < deadline and not runner.failed:
            snap = runner.snapshot()
            if not runner.starting and snap is not None and snap["step"] > self._start_step:
                return
            time.sleep(0.02)

    # -- what the page draws

    def snapshot(self) -> dict | None:
        """The latest state to draw (the training thread's last published one while playing;
        the checkpoint's while the trainer is being built); None if there is nothing yet."""
        if self.runner is not None and self.runner.snapshot() is not None:
            return self.runner.snapshot()
        shown = S.get("gan_model")
        return shown.snapshot() if shown is not None else None

    def heartbeat(self) -> bool:
        """Called by the live fragment: keep training; False when the state changed since the
        page was drawn (built, stopped by itself...): the page then reruns to show it.

        A Play's first steps are drawn by the fragment one tick before that rerun: beside
        TensorFlow's import a whole run of the page took ~3 s, and the first step showed
        only after it."""
        if self.runner is None:
            return True
        self.runner.heartbeat()
        if self.playing and not self.runner.running:
            return False
        if self.state == self.drawn_state:
            return True
        if (self.drawn_state, self.state) == ("starting", "playing") and not self._first_drawn:
            self._first_drawn = True  # this tick draws the first steps, the next one reruns
            return True
        return False

    def judged(self, step: int) -> tuple[int, object, dict]:
        """(step judged, the samples judged, their figures from ui.evaluation): the ONE set
        of fresh samples behind both the digit-share chart and the quality panel's verdict.
        Drawn again when the model or step changed, at most every ``SHARES_S`` s while
        playing."""
        cached = S.get("gan_judged")
        now = time.monotonic()
        model = self.model
        if cached is None or cached[0][0] != id(model) or (
                cached[0][1] != step and (not self.playing or now - cached[2] >= SHARES_S)):
            if self.runner is None or self.runner.trainer is not model:
                fakes = model.sample(N_SHARES, rng=step).images
            else:
                with self.runner.holding():  # between two slices of the training thread
                    fakes = model.sample(N_SHARES, rng=step).images
            cached = ((id(model), step), fakes, now)
            S.gan_judged = cached
        judged_at, fakes = cached[0][1], cached[1]
        return judged_at, fakes, evaluation.figures(fakes, self.mnist)
