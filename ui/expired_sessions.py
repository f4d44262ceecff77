"""Shut down browser sessions whose reconnect window has passed, so their memory is freed.

When a tab closes, Streamlit keeps its session for ``server.disconnectedSessionTTL``
(120 s by default) so a network blip can reconnect to it. When that time is up, Streamlit
1.67 drops the session from its store without shutting it down (streamlit/streamlit#12506):
the session's state, its media files and its deferred download callables stay in memory
for as long as the server runs. Measured on the GAN page: ten tabs played and closed left
the server at 1,326-1,429 MiB three minutes later, against ~960 MiB once TensorFlow is
loaded, with all ten sessions (and their trainers' last pictures) still reachable.

:func:`start` runs one daemon thread per process that, every ``SWEEP_S`` seconds, takes
the expired sessions out of the store (under the session manager's own lock, so a
reconnect at that moment either finds its session or starts a new one) and shuts down
every session the store dropped (by then or by any write to it), as Streamlit does for a
session that cannot reconnect. It relies on Streamlit
internals (the session manager's store); if they change, it logs once and does nothing.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time

__all__ = ["SWEEP_S", "install", "start", "sweep"]

SWEEP_S = 15.0
log = logging.getLogger("genlab")

_started = threading.Event()
_start_lock = threading.Lock()


def install(session_mgr) -> None:
    """Make ``session_mgr``'s store remember every session it drops for good: those whose
    reconnect time is up (reaped by any write to the store, not only by :func:`sweep`) and
    those evicted when it is full. A session taken out to reconnect is not one of them.
    Raises AttributeError if Streamlit's internals are not as expected."""
    cache = session_mgr._session_storage._cache
    if hasattr(cache, "genlab_dropped"):
        return
    expire, evict = cache.expire, cache._evict_lru
    dropped: queue.SimpleQueue = queue.SimpleQueue()

    def expire_and_keep(at_time=None):
        removed = expire(at_time)
        for _, info in removed:
            dropped.put(info.session)
        return removed

    def evict_and_keep(reason):
        info = evict(reason)
        dropped.put(info.session)
        return info

    cache.expire, cache._evict_lru = expire_and_keep, evict_and_keep
    cache.genlab_dropped = dropped


def sweep(session_mgr) -> int:
    """Reap the sessions in ``session_mgr``'s store whose reconnect time is up and shut
    down every session the store has dropped since the last sweep; how many."""
    install(session_mgr)
    cache = session_mgr._session_storage._cache
    with session_mgr._storage_lock:  # as the manager does: a reconnect finds it or not
        cache.expire()
    n = 0
    while True:
        try:
            session = cache.genlab_dropped.get_nowait()
        except queue.Empty:
            break
        n += 1
        try:
            session.shutdown()  # outside the lock, as Streamlit shuts sessions down
        except Exception:  # noqa: BLE001 -- one broken session must not keep the rest
            log.exception("could not shut down an expired session")
    if n:
        gc.collect()
        from genlib.live import trim_heap

        trim_heap()
    return n


def _loop(runtime) -> None:
    while True:
        try:
            sweep(runtime._session_mgr)
        except AttributeError as e:
            log.warning("expired browser sessions are not freed (Streamlit changed: %s)", e)
            return
        time.sleep(SWEEP_S)


def start() -> None:
    """Start the sweeping thread once per server process (no-op outside a server)."""
    if _started.is_set():
        return
    from streamlit.runtime import Runtime

    if not Runtime.exists() or type(Runtime.instance()) is not Runtime:
        return  # no server: a unit test, or AppTest's stand-in runtime (no sessions to free)
    with _start_lock:
        if _started.is_set():
            return
        _started.set()
        threading.Thread(target=_loop, args=(Runtime.instance(),),
                         name="genlab-expired-sessions", daemon=True).start()
