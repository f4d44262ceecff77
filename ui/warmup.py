"""Load TensorFlow in the background as soon as a neural page opens.

``import tensorflow`` costs ~4.5 s here (13 s on a loaded machine): paid when a user first
presses Train or Play, it was a wait nobody could explain. A page that may train calls
:func:`start` when it opens; one daemon thread per server process imports Keras (on the
TensorFlow backend) while the user reads the page, and :func:`status` says how far it is.
The thread never calls Streamlit. Pages that only sample or decode never call this.
"""

from __future__ import annotations

import importlib
import threading
import time

_lock = threading.Lock()
_state = {"thread": None, "started": None, "done": None, "error": None}


def _load() -> None:
    try:
        from genlib import nn

        nn.keras()  # sets the quiet logging and backend variables, then imports
    except Exception as e:  # reported by status(); training will then say why itself
        _state["error"] = f"{type(e).__name__}: {e}"
    finally:
        _state["done"] = time.monotonic()


def start() -> None:
    """Begin importing TensorFlow in the background (once per process; later calls return)."""
    with _lock:
        if _state["thread"] is None:
            _state["started"] = time.monotonic()
            _state["thread"] = threading.Thread(target=_load, name="genlab-tf-warmup",
                                                daemon=True)
            _state["thread"].start()


def ready() -> bool:
    return _state["done"] is not None and _state["error"] is None


def status() -> str:
    """One line for the page: loading (for how long), ready (in how long), or the error."""
    if _state["started"] is None:
        return "TensorFlow is not loaded yet; it loads when training starts."
    if _state["error"]:
        return f"TensorFlow could not be loaded: {_state['error']}"
    if _state["done"] is None:
        return (f"Loading TensorFlow in the background "
                f"({time.monotonic() - _state['started']:.0f} s so far)...")
    return f"TensorFlow ready (loaded in {_state['done'] - _state['started']:.1f} s)."


def wait(timeout: float | None = None) -> bool:
    """Block until the import finished (e.g. before the first training step); True if ready."""
    thread = _state["thread"]
    if thread is not None:
        thread.join(timeout)
    return ready()


def trainer_class(module: str, name: str):
    """In a training thread: wait for the background import (starting it if needed), then
    ``module.name``, a trainer class; a ValueError saying what to install without TensorFlow."""
    start()
    wait()  # the import in progress, if any: importing twice at once only waits
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        raise ValueError("training needs TensorFlow: pip install -r requirements.txt") from None
