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

from collections.abc import Callable

from genlib.live import LiveTraining
from ui import gan_controller as _gan

MAX_TRAINERS_ENV = _gan.MAX_TRAINERS_ENV
max_trainers = _gan.max_trainers
active_trainers = _gan.active_trainers


def claim(make: Callable[[], LiveTraining]) -> LiveTraining | None:
    """``make()`` a training session and count it, or None when the server holds
    :func:`max_trainers` already. Checked and counted under one lock, so two sessions asking
    at once cannot both pass the cap. ``make`` must return at once (the trainer is built
    later, in the session's thread)."""
    with _gan._trainers_lock:
        if active_trainers() >= max_trainers():
            return None
        runner = make()
        _gan._trainers.add(runner)
        return runner


def refusal(instead: str) -> str:
    """The message for a refused trainer: what happened, the limit, what the user gets
    ``instead``, and when to try again."""
    held = active_trainers()
    return (f"**This server is training {held} model{'s' if held != 1 else ''} already**, "
            f"its limit ({MAX_TRAINERS_ENV}={max_trainers()}, counted over the GAN, "
            f"Playground and Diffusion pages), so {instead}. Try again in a minute: a place "
            "frees when a training tab closes or goes back to its pretrained model.")
