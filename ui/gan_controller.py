"""The GAN page's state machine, so the page itself is layout only.

What the page shows is one of:

``checkpoint``  a saved generator (:class:`genlib.gan.GAN`, numpy only, no TensorFlow)
``starting``    Play was pressed; the trainer is built or its thread is not running yet
``playing``     a :class:`genlib.gan_train.GANTrainer` training in the background thread of
                :class:`genlib.live.LiveTraining`
``paused``      the same trainer, waiting for Play or Step
``none``        no model: the shipped checkpoint is missing or damaged (the page says which
                file and offers the other preset or training from random weights)

Buttons only record what was asked (their callbacks run before the script); :meth:`sync`,
called once per run after the widgets are drawn, makes it happen. Everything per user lives in
``st.session_state`` under ``gan_*`` keys (never module globals: they are shared by every tab).
The page link carries ``preset`` and ``seed`` (read once per session by :func:`read_link`).
"""

from __future__ import annotations

import time

import streamlit as st

import ui
from genlib import gan
from genlib.live import LiveTraining

S = st.session_state
SHARES_S = 10.0  # judge fresh samples at most this often while playing
N_SHARES = 300  # samples the judge labels for the digit shares


@st.cache_resource(show_spinner="Loading the pretrained GAN...", max_entries=4)
def load_pretrained(path: str) -> gan.GAN:
    """A shipped checkpoint, shared read-only by every session (keyed by its path)."""
    return gan.GAN.load(path)


@st.cache_resource(show_spinner=False, max_entries=2)
def load_judge(source: str, _mnist):
    return gan.load_judge(_mnist.train.images, _mnist.train.labels)


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
            if len(text) > 12:  # never parse a huge number: the bound has 10 digits
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
    """Keep the link in the address bar pointing at what is shown."""
    query = {"preset": preset, "seed": str(seed)}
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


# ----------------------------------------------------------------------------- button callbacks


def play() -> None:
    S.gan_playing = True


def pause() -> None:
    S.gan_playing = False
    if S.get("gan_live") is not None:
        S.gan_live.pause()  # waits for the slice in progress: the next draw is final


def step() -> None:
    pause()
    S.gan_pending += int(S.gan_step_n)


def reset() -> None:
    pause()
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


class GANController:
    """One script run's view of the page state; see the module docstring.

    Attributes (after :meth:`sync`)
    -------------------------------
    model : a ``GAN``, a ``GANTrainer``, or None
    runner : the ``LiveTraining`` of a trainer, else None
    stopped : why the training thread stopped by itself since the last run, or None
    damaged : the error of a shipped checkpoint that could not be read, or None
    """

    def __init__(self, mnist):
        self.mnist = mnist
        S.setdefault("gan_playing", False)
        S.setdefault("gan_pending", 0)
        S.setdefault("gan_action", None)
        self.link_problems = read_link()
        self.stopped = S.gan_playing and S.get("gan_live") is not None and \
            S.gan_live.take_stop_reason()
        if self.stopped:  # the training thread stopped by itself: show Play, and why
            S.gan_playing = False
        self.damaged: str | None = None
        self.model = S.get("gan_model")
        self.runner: LiveTraining | None = None

    @property
    def playing(self) -> bool:
        return bool(S.gan_playing)

    @property
    def state(self) -> str:
        if self.model is None:
            return "none"
        if self.runner is None:
            return "checkpoint"
        if S.gan_playing:
            return "playing" if self.runner.playing else "starting"
        return "paused"

    # -- transitions

    def sync(self, preset: str, settings: dict, speed: float | None) -> None:
        """Carry out what the buttons asked for, then drive the training thread."""
        action, S.gan_action = S.gan_action, None
        model = S.get("gan_model")
        with ui.user_errors("Could not start training: "):
            if action == "reset":
                self._start(preset, settings, fresh=True)
            elif action == "pretrained" or model is None or (
                    isinstance(model, gan.GAN) and model.preset != preset):
                self._load_pretrained(preset)
            model = S.get("gan_model")
            if (S.gan_playing or S.gan_pending) and not self._is_trainer(model):
                # from the checkpoint shown, or from random weights when there is none
                self._start(preset if model is None else model.preset, settings,
                            fresh=model is None)
        self.model = S.get("gan_model")
        if self._is_trainer(self.model):
            self.damaged = None  # training from random weights instead: nothing to report
            self._drive(settings, speed)
        else:
            S.gan_playing = False
            S.gan_pending = 0
            S.pop("gan_live", None)

    @staticmethod
    def _is_trainer(model) -> bool:
        return model is not None and not isinstance(model, gan.GAN)

    def _load_pretrained(self, preset: str) -> None:
        try:
            S.gan_model = load_pretrained(str(gan.shipped_checkpoint_path(preset)))
        except ValueError as e:  # damaged or missing: say which file, carry on without it
            S.gan_model = None
            self.damaged = str(e)

    def _start(self, preset: str, settings: dict, fresh: bool) -> None:
        """Replace the model by a trainer: from scratch, or continuing the shown checkpoint."""
        with st.spinner("Starting TensorFlow and compiling the train step (a few seconds)..."):
            try:
                from genlib.gan_train import GANTrainer

                if fresh:
                    S.gan_model = GANTrainer(preset, images=self.mnist.train.images,
                                             **settings)
                else:
                    S.gan_model = GANTrainer.load(gan.shipped_checkpoint_path(preset),
                                                  images=self.mnist.train.images,
                                                  **live_settings(settings))
                S.gan_model.warm_up()  # compile now, not in the first refresh
            except ImportError:
                S.gan_playing = False
                S.gan_pending = 0
                raise ValueError("training needs TensorFlow: pip install -r requirements.txt") \
                    from None

    def _drive(self, settings: dict, speed: float | None) -> None:
        """Settings, pending Steps, Play and Pause for the trainer shown."""
        model = self.model
        if S.get("gan_live") is None or S.gan_live.trainer is not model:
            S.gan_live = LiveTraining(model)
        runner = self.runner = S.gan_live
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

    # -- what the page draws

    def snapshot(self) -> dict:
        """The latest state to draw (the training thread's last published one while playing)."""
        return self.runner.snapshot() if self.runner is not None else self.model.snapshot()

    def heartbeat(self) -> bool:
        """Called by the live fragment: keep training; False if the thread stopped by itself
        while Play is shown (the page then reruns to say why)."""
        if self.runner is None:
            return True
        self.runner.heartbeat()
        return not (S.gan_playing and not self.runner.playing)

    def digit_shares(self, step: int) -> tuple[int, object, str]:
        """(step judged, shares of each digit among fresh samples, judge name), judged again
        when the model or step changed, at most every ``SHARES_S`` seconds while playing."""
        cached = S.get("gan_shares")
        now = time.monotonic()
        model = self.model
        if cached is None or cached[0][0] != id(model) or (
                cached[0][1] != step and (not S.gan_playing or now - cached[2] >= SHARES_S)):
            judge, judge_name = load_judge(self.mnist.source, self.mnist)
            if self.runner is None:
                fakes = model.sample(N_SHARES, rng=step).images
            else:
                with self.runner.holding():  # between two slices of the training thread
                    fakes = model.sample(N_SHARES, rng=step).images
            shares = gan.digit_shares(judge.predict(fakes))
            cached = S.gan_shares = ((id(model), step), (shares, judge_name), now)
        return cached[0][1], *cached[1]
