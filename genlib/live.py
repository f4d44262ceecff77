"""Train in a background thread while a page shows snapshots (the GAN page's engine).

Why a thread and not ``st.fragment(run_every=...)`` slices: in slices, training stops while
the script draws and while the browser is waiting, so training got 15-28% of its headless
throughput at 0.5-0.7 page refreshes per second (measured, 2 cores). In a thread, TensorFlow
trains while the page draws: the compiled step releases the GIL, and the page only copies a
snapshot. See the README's GAN figures.

Rules that keep it safe:
- The thread never calls Streamlit. The page reads :meth:`LiveTraining.snapshot` (a dict of
  numpy arrays, replaced whole under ``lock``, never mutated afterwards).
- Everything that touches the trainer from outside the thread (settings, sampling, saving,
  Step) goes through :meth:`LiveTraining.holding`; the thread holds ``lock`` for one slice
  (``slice_s``) at a time and lets a waiting caller in between two slices. (A plain lock is not
  fair: the thread re-took it before a waiting page woke up, and the page waited up to 10 s.)
- A trainer may be given built or as ``build()``: then the thread builds it first (importing
  TensorFlow and compiling take seconds), so the click that asked for it returns at once and
  is never lost; Play and Step asked for meanwhile run as soon as it exists (:attr:`starting`).
- The thread stops by itself when ``alive()`` turns false (the browser session ended), when no
  :meth:`heartbeat` came for ``idle_s`` seconds (the page stopped refreshing), or on an error;
  :meth:`pause` stops it at once (after the slice in progress) and waits for it.
- A session that stays gone for ``release_s`` seconds gets its trainer released
  (:meth:`release`: the trainer's ``close()``, the references dropped, a garbage collection),
  so ten closed tabs do not keep ten sets of networks in the server's memory.

No Streamlit and no TensorFlow imports here: the trainer brings its own.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import threading
import time
from collections.abc import Callable


def trim_heap() -> None:
    """Give freed memory back to the operating system (glibc keeps it otherwise: the server's
    resident size stayed up after every tab had closed)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class LiveTraining:
    """Runs ``trainer.train_for(slice_s)`` in a daemon thread while playing.

    Parameters
    ----------
    trainer : needs ``step``, ``train(n)``, ``train_for(seconds, max_steps=None)`` and
        ``snapshot()`` (as :class:`genlib.gan_train.GANTrainer` has), optionally ``close()``;
        or None with ``build``
    build : called in the thread to make the trainer (when ``trainer`` is None)
    initial : the snapshot to show until the trainer exists (default: None)
    """

    def __init__(self, trainer=None, slice_s: float = 0.1, publish_s: float = 0.2,
                 idle_s: float = 60.0, *, build: Callable | None = None,
                 initial: dict | None = None, release_s: float = 20.0):
        if trainer is None and build is None:
            raise ValueError("give a trainer or a build() that makes one")
        self.trainer = trainer
        self.slice_s = slice_s
        self.publish_s = publish_s
        self.idle_s = idle_s
        self.release_s = release_s
        self.lock = threading.RLock()
        self.max_rate: float | None = None  # steps per second; None: as fast as it goes
        self.error: str | None = None
        self.stopped_because: str | None = None
        self.released = False
        self.failed = False  # build() raised: there will be no trainer
        self._build = build
        self._want_play = False
        self._pending = 0  # Step requests waiting for the trainer to be built
        self._stop = threading.Event()
        self._waiting = 0  # callers queued in holding(); the thread lets them in first
        self._waiting_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._alive: Callable[[], bool] = lambda: True
        self._beat = time.monotonic()
        self._rates: collections.deque = collections.deque(maxlen=64)
        self._snap = initial
        self._published = time.monotonic()
        if trainer is not None:
            with self.lock:
                self._publish()

    # -- what the page calls

    @property
    def running(self) -> bool:
        """The thread is alive (building, training, or running queued steps)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def starting(self) -> bool:
        """The trainer is being built (or waits for its thread to build it)."""
        return self.trainer is None and not self.released and not self.failed

    @property
    def playing(self) -> bool:
        """Training in the background now (not while the trainer is still being built)."""
        return self.running and self._want_play and self.trainer is not None

    @property
    def rate(self) -> float:
        """Steps per second over the last ~2 s of training (0 when paused)."""
        pts = list(self._rates)
        if not self.running or len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return 0.0
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])

    def play(self, alive: Callable[[], bool] | None = None) -> None:
        """Start training in the background (no-op if already playing); if the trainer is
        still to be built, build it first, in the thread."""
        if alive is not None:
            self._alive = alive
        if self.released or self.failed:
            raise ValueError("this training session was released; start a new one")
        self._want_play = True
        self.heartbeat()
        self._start_thread()

    def build(self) -> None:
        """Build the trainer now, in the thread, without playing (e.g. after a Reset)."""
        if self.starting:
            self.heartbeat()
            self._start_thread()

    def pause(self, timeout: float = 10.0) -> None:
        """Stop after the slice in progress and wait for the thread; publish the final state.

        While the trainer is being built this returns at once: the build finishes in the
        background (it cannot be cut short) and then waits, paused.
        """
        self._want_play = False
        if self.trainer is None:
            return
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self.lock:
            self._publish()

    @contextlib.contextmanager
    def holding(self):
        """Hold the trainer between two slices of the thread (at most one slice's wait);
        yields None while it is still being built."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            with self.lock:
                yield self.trainer
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def take_stop_reason(self) -> str | None:
        """Why the thread stopped by itself (an error, the session ended, no refresh), once;
        None if it is playing or was paused."""
        if self.running:
            return None
        reason, self.error, self.stopped_because = self.error or self.stopped_because, None, None
        return reason

    def heartbeat(self) -> None:
        """The page is still looking: keep training."""
        self._beat = time.monotonic()

    def snapshot(self) -> dict | None:
        """The latest published snapshot (the trainer's ``snapshot()`` dict; ``initial``
        until the trainer exists)."""
        return self._snap

    def train(self, steps: int) -> None:
        """Train ``steps`` steps now, in the caller's thread (for a Step button); while the
        trainer is being built, queue them: the thread runs them once it exists."""
        if self.trainer is None:
            if self.released or self.failed:
                raise ValueError("this training session was released; start a new one")
            self._pending += int(steps)
            self.heartbeat()
            self._start_thread()
            return
        self.pause()
        with self.holding():
            try:
                self.trainer.train(steps)
            finally:
                self._publish()

    def release(self) -> None:
        """Stop, then free the trainer: its ``close()`` drops its networks and data; this
        object keeps only the last snapshot (numpy)."""
        self.pause()
        with self.lock:
            trainer, self.trainer = self.trainer, None
            self.released = True
            self._build = None
            if trainer is not None and hasattr(trainer, "close"):
                trainer.close()
        del trainer
        gc.collect()  # Keras models hold reference cycles: free them now, not some day
        trim_heap()

    # -- the thread

    def _start_thread(self) -> None:
        if self.running:
            return
        self.error = self.stopped_because = None
        self._stop.clear()
        self._rates.clear()
        self._thread = threading.Thread(target=self._run, name="genlab-live-training",
                                        daemon=True)
        self._thread.start()

    def _publish(self) -> None:
        if self.trainer is not None:
            self._snap = self.trainer.snapshot()
        self._published = time.monotonic()

    def _run(self) -> None:
        gone = False
        try:
            if self.trainer is None:
                try:
                    trainer = self._build()
                except BaseException:
                    self.failed = True
                    raise
                with self.lock:
                    if self.released:  # released while building: nobody will use it
                        getattr(trainer, "close", lambda: None)()
                        return
                    self.trainer = trainer
                    self._publish()
            while not self._stop.is_set():
                now = time.monotonic()
                if not self._alive():
                    self.stopped_because = "the browser session ended"
                    gone = True
                    break
                if self._pending:
                    with self.lock:
                        n, self._pending = self._pending, 0
                        try:
                            self.trainer.train(n)
                        finally:
                            self._publish()
                    continue
                if not self._want_play:
                    break
                if now - self._beat > self.idle_s:
                    self.stopped_because = f"no page refresh for {self.idle_s:.0f} s"
                    break
                rate, wait = self.max_rate, 0.0
                with self.lock:
                    if rate is None:
                        self.trainer.train_for(self.slice_s)
                    else:  # a few steps, then wait out their share of time
                        n = max(1, round(rate * self.slice_s))
                        self.trainer.train(n)
                        wait = n / rate
                    self._rates.append((time.monotonic(), self.trainer.step))
                    if time.monotonic() - self._published >= self.publish_s:
                        self._publish()
                if wait:
                    self._stop.wait(max(0.0, wait - (time.monotonic() - now)))
                while self._waiting and not self._stop.is_set():
                    self._stop.wait(0.001)  # a caller of holding() goes first
        except Exception as e:  # shown by the page; the thread must not die silently
            self.error = str(e) or type(e).__name__
        finally:
            self._want_play = False
            self._pending = 0
            self._stop.set()
            with self.lock:
                self._publish()
        if gone:
            self._release_unless_back()

    def _release_unless_back(self) -> None:
        """The session ended: wait ``release_s`` for it to come back (a network blip), then
        release the trainer. Not counted as running meanwhile (a pause() does not wait)."""
        me = self._thread
        self._thread = None
        deadline = time.monotonic() + self.release_s
        while time.monotonic() < deadline:
            if self._alive() or self._thread not in (None, me):
                return  # back, or playing again in a new thread
            time.sleep(min(0.25, self.release_s))
        if self._thread is None:
            self.release()
