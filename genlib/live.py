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
- The thread stops by itself when ``alive()`` turns false (the browser session ended), when no
  :meth:`heartbeat` came for ``idle_s`` seconds (the page stopped refreshing), or on an error;
  :meth:`pause` stops it at once (after the slice in progress) and waits for it.

No Streamlit and no TensorFlow imports here: the trainer brings its own.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable


class LiveTraining:
    """Runs ``trainer.train_for(slice_s)`` in a daemon thread while playing.

    ``trainer`` needs ``step``, ``train(n)``, ``train_for(seconds, max_steps=None)`` and
    ``snapshot()`` (as :class:`genlib.gan_train.GANTrainer` has).
    """

    def __init__(self, trainer, slice_s: float = 0.1, publish_s: float = 0.2,
                 idle_s: float = 60.0):
        self.trainer = trainer
        self.slice_s = slice_s
        self.publish_s = publish_s
        self.idle_s = idle_s
        self.lock = threading.RLock()
        self.max_rate: float | None = None  # steps per second; None: as fast as it goes
        self.error: str | None = None
        self.stopped_because: str | None = None
        self._stop = threading.Event()
        self._waiting = 0  # callers queued in holding(); the thread lets them in first
        self._waiting_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._alive: Callable[[], bool] = lambda: True
        self._beat = time.monotonic()
        self._rates: collections.deque = collections.deque(maxlen=64)
        with self.lock:
            self._publish()

    # -- what the page calls

    @property
    def playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def rate(self) -> float:
        """Steps per second over the last ~2 s of training (0 when paused)."""
        pts = list(self._rates)
        if not self.playing or len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return 0.0
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])

    def play(self, alive: Callable[[], bool] | None = None) -> None:
        """Start training in the background (no-op if already playing)."""
        if alive is not None:
            self._alive = alive
        if self.playing:
            return
        self.error = self.stopped_because = None
        self._stop.clear()
        self._rates.clear()
        self.heartbeat()
        self._thread = threading.Thread(target=self._run, name="genlab-live-training",
                                        daemon=True)
        self._thread.start()

    def pause(self, timeout: float = 10.0) -> None:
        """Stop after the slice in progress and wait for the thread; publish the final state."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self.lock:
            self._publish()

    @contextlib.contextmanager
    def holding(self):
        """Hold the trainer between two slices of the thread (at most one slice's wait)."""
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
        if self.playing:
            return None
        reason, self.error, self.stopped_because = self.error or self.stopped_because, None, None
        return reason

    def heartbeat(self) -> None:
        """The page is still looking: keep training."""
        self._beat = time.monotonic()

    def snapshot(self) -> dict:
        """The latest published snapshot (the trainer's ``snapshot()`` dict)."""
        return self._snap

    def train(self, steps: int) -> None:
        """Train ``steps`` steps now, in the caller's thread (for a Step button)."""
        self.pause()
        with self.holding():
            try:
                self.trainer.train(steps)
            finally:
                self._publish()

    # -- the thread

    def _publish(self) -> None:
        self._snap = self.trainer.snapshot()
        self._published = time.monotonic()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now - self._beat > self.idle_s:
                    self.stopped_because = f"no page refresh for {self.idle_s:.0f} s"
                    break
                if not self._alive():
                    self.stopped_because = "the browser session ended"
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
            self._stop.set()
            with self.lock:
                self._publish()
