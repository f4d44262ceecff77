"""One server-wide cap on live trainers: the GAN page's, the Playground's panels' and the
Diffusion page's Training tab's all count against ``$GENLAB_MAX_TRAINERS``.

Each trainer holds networks (a GAN ~171 MiB) and a share of the CPU, whichever page made it,
so a class of students cannot exhaust a replica by moving to another page. The counter is the
GAN page's (``ui.gan_controller``: a weak set of every session's
:class:`genlib.live.LiveTraining` and its lock), so one number covers the three pages; a place
frees when a trainer is released (its session went back, reset, cancelled, or its tab was
gone 20 s) or failed to build.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

import ui
from genlib.live import LiveTraining
from ui import gan_controller as _gan

MAX_TRAINERS_ENV = _gan.MAX_TRAINERS_ENV
max_trainers = _gan.max_trainers
active_trainers = _gan.active_trainers
REAP_S = 5.0  # how often the reaper looks for trainers of closed tabs

# A training session's own thread releases its trainer when its tab has been gone
# ``release_s`` -- but only while it runs. A paused trainer (or one whose thread stopped for
# want of page refreshes) stayed held by the closed session until Streamlit dropped that
# session (server.disconnectedSessionTTL, 120 s; ~129 s measured) and was then freed without
# its release() (no malloc_trim). The reaper releases those too, 20 s after the tab went.
_alive: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # runner -> "tab connected?"
_gone_since: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_reaper: threading.Thread | None = None
_reaper_lock = threading.Lock()


def claim(make: Callable[[], LiveTraining],
          alive: Callable[[], bool] | None = None) -> LiveTraining | None:
    """``make()`` a training session and count it, or None when the server holds
    :func:`max_trainers` already. Checked and counted under one lock, so two sessions asking
    at once cannot both pass the cap. ``make`` must return at once (the trainer is built
    later, in the session's thread). ``alive``: "is the tab still connected?" (default: the
    calling script's session), for :func:`reap`."""
    with _gan._trainers_lock:
        if active_trainers() >= max_trainers():
            return None
        runner = make()
        _gan._trainers.add(runner)
        _alive[runner] = alive or _gan.session_alive()
    watch()
    return runner


def reap(now: float | None = None) -> int:
    """Release every counted trainer (GAN, Playground, Diffusion) whose tab has been gone
    its ``release_s`` while its thread is not running (a running thread releases its own).
    Returns how many were released."""
    now = time.monotonic() if now is None else now
    released = 0
    for runner in list(_gan._trainers):
        if runner.released or runner.running:
            _gone_since.pop(runner, None)
            continue
        alive = _alive.get(runner) or runner._alive  # a GAN runner: its play()'s test
        if alive():
            _gone_since.pop(runner, None)
            continue
        if now - _gone_since.setdefault(runner, now) >= runner.release_s:
            runner.release()  # close(), gc and malloc_trim, as when its thread does it
            released += 1
    return released


def _reap_forever() -> None:
    while True:
        time.sleep(REAP_S)
        try:
            reap()
        except Exception:  # noqa: BLE001 -- a failed look must not end the reaper
            ui.log.exception("releasing the trainers of closed tabs failed")


def watch() -> None:
    """Start the reaper thread (once per process)."""
    global _reaper
    with _reaper_lock:
        if _reaper is None or not _reaper.is_alive():
            _reaper = threading.Thread(target=_reap_forever, name="genlab-trainer-reaper",
                                       daemon=True)
            _reaper.start()


def refusal(instead: str) -> str:
    """The message for a refused trainer: what happened, the limit, what the user gets
    ``instead``, and when to try again."""
    held, cap = active_trainers(), max_trainers()
    if cap == 0:
        return (f"**Training is turned off on this server** ({MAX_TRAINERS_ENV}=0), so "
                f"{instead}.")
    return (f"**This server is training {held} model{'s' if held != 1 else ''} already**, "
            f"its limit ({MAX_TRAINERS_ENV}={cap}, counted over the GAN, Playground and "
            f"Diffusion pages), so {instead}. Try again in a minute: a place frees when a "
            "training tab closes or goes back to its pretrained model.")
