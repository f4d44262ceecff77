"""genlib.live.LiveTraining: the GAN page's background training thread, with a tiny trainer."""

import threading
import time

import numpy as np
import pytest

from genlib.live import LiveTraining


class CountingTrainer:
    """Counts steps; each step takes ``step_s``; can fail at a given step."""

    def __init__(self, step_s: float = 0.001, fail_at: int | None = None):
        self.step, self.step_s, self.fail_at = 0, step_s, fail_at
        self.threads = set()

    def train(self, n: int) -> None:
        for _ in range(n):
            self.threads.add(threading.current_thread().name)
            if self.fail_at is not None and self.step + 1 >= self.fail_at:
                raise ValueError("training diverged")
            end = time.perf_counter() + self.step_s
            while time.perf_counter() < end:
                pass  # busy in Python, holding the GIL between steps as the real thread does
            self.step += 1

    def train_for(self, seconds: float, max_steps: int | None = None) -> None:
        t0 = time.monotonic()
        self.train(1)
        while time.monotonic() - t0 < seconds:
            self.train(1)

    def snapshot(self) -> dict:
        return {"step": self.step, "fixed": np.full((2, 2), self.step)}


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def live():
    runner = LiveTraining(CountingTrainer(), slice_s=0.02, publish_s=0.02)
    yield runner
    runner.pause()


def test_trains_in_a_background_thread_and_publishes_snapshots(live):
    assert live.snapshot()["step"] == 0 and not live.playing
    live.play()
    assert live.playing
    wait_for(lambda: live.snapshot()["step"] > 20)
    assert live.trainer.threads == {"genlab-live-training"}
    assert live.rate > 0


def test_pause_is_final_and_stops_the_thread(live):
    live.play()
    wait_for(lambda: live.trainer.step > 5)
    live.pause()
    assert not live.playing
    assert not any(t.name == "genlab-live-training" for t in threading.enumerate())
    step = live.trainer.step
    assert live.snapshot()["step"] == step  # the last draw after pause is the final state
    time.sleep(0.1)
    assert live.trainer.step == step and live.rate == 0


def test_stops_when_the_session_ends(live):
    connected = [True]
    live.play(alive=lambda: connected[0])
    wait_for(lambda: live.trainer.step > 5)
    connected[0] = False
    wait_for(lambda: not live.playing, timeout_s=2)
    assert live.stopped_because == "the browser session ended"


def test_stops_without_heartbeats(live):
    live.idle_s = 0.2
    live.play()
    wait_for(lambda: not live.playing, timeout_s=3)
    assert "no page refresh" in live.stopped_because
    live.idle_s = 5
    live.play()  # a refresh after that starts it again
    for _ in range(10):
        live.heartbeat()
        time.sleep(0.05)
    assert live.playing


def test_speed_limit_holds_the_rate(live):
    live.max_rate = 50.0
    t0 = time.monotonic()
    live.play()
    time.sleep(1.0)
    live.pause()
    elapsed = time.monotonic() - t0
    # never faster than the limit (one slice of 5 steps ahead at most); slower only when
    # the machine is busy, so the lower bound is just "it trained"
    assert 0 < live.trainer.step <= 50 * elapsed + 5


def test_an_error_stops_the_thread_and_is_kept(live):
    live.trainer.fail_at = 30
    live.play()
    wait_for(lambda: not live.playing)
    assert live.error == "training diverged"
    assert live.snapshot()["step"] == 29


def test_step_trains_exactly_n_in_the_caller_and_pauses_first(live):
    live.play()
    wait_for(lambda: live.trainer.step > 3)
    live.pause()
    before = live.trainer.step
    live.train(7)
    assert not live.playing
    assert live.trainer.step == before + 7 == live.snapshot()["step"]


def test_a_caller_of_holding_gets_in_between_two_slices(live):
    """The page never waits more than a few slices for the trainer (a plain lock let the
    thread take it again and again: the page waited seconds)."""
    live.play()
    wait_for(lambda: live.trainer.step > 5)
    waits = []
    for _ in range(30):
        t0 = time.monotonic()
        with live.holding() as trainer:
            waits.append(time.monotonic() - t0)
            before = trainer.step
            time.sleep(0.005)
            assert trainer.step == before  # the thread does not train meanwhile
        time.sleep(0.005)
    assert max(waits) < 5 * live.slice_s
    assert live.playing


# ----------------------------------------------------------------------------- built in the thread


class SlowBuild:
    """A build() that takes ``seconds`` (TensorFlow's import and the compile), counted."""

    def __init__(self, seconds: float = 0.3, **trainer_kwargs):
        self.seconds, self.calls, self.kwargs = seconds, 0, trainer_kwargs
        self.release = threading.Event()

    def __call__(self):
        self.calls += 1
        self.release.wait(self.seconds)
        return ClosableTrainer(**self.kwargs)


class ClosableTrainer(CountingTrainer):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_play_returns_at_once_and_trains_once_built():
    """A Play click while the trainer is still being built is never lost: play() returns at
    once, the runner says 'starting', then trains without another click."""
    build = SlowBuild(0.5)
    runner = LiveTraining(build=build, initial={"step": 123}, slice_s=0.02, publish_s=0.02)
    try:
        t0 = time.monotonic()
        runner.play()
        assert time.monotonic() - t0 < 0.1
        assert runner.starting and not runner.playing
        assert runner.snapshot() == {"step": 123}  # what was shown before, until built
        wait_for(lambda: runner.playing and runner.snapshot()["step"] > 10)
        assert not runner.starting and build.calls == 1
    finally:
        runner.pause()


def test_step_while_building_runs_once_built_then_waits_paused():
    """Step pressed (twice) during the build: exactly those steps run, then it stays paused."""
    runner = LiveTraining(build=SlowBuild(0.3), slice_s=0.02, publish_s=0.02)
    runner.train(5)
    runner.train(2)
    assert runner.starting
    wait_for(lambda: not runner.running)
    assert runner.trainer.step == 7 == runner.snapshot()["step"]
    assert not runner.playing


def test_pause_while_building_does_not_wait_and_keeps_the_trainer():
    build = SlowBuild(5.0)
    runner = LiveTraining(build=build, slice_s=0.02, publish_s=0.02)
    runner.play()
    t0 = time.monotonic()
    runner.pause()
    assert time.monotonic() - t0 < 0.1  # the page's run is not held by the build
    build.release.set()
    wait_for(lambda: not runner.running)
    assert runner.trainer is not None and runner.trainer.step == 0 and not runner.playing


def test_a_build_error_is_kept_and_stops():
    def fail():
        raise ImportError("no TensorFlow here")

    runner = LiveTraining(build=fail)
    runner.play()
    wait_for(lambda: not runner.running)
    assert runner.take_stop_reason() == "no TensorFlow here" and not runner.starting


def test_a_closed_session_releases_its_trainer():
    """The session ends: the thread stops, and after release_s the trainer is closed and no
    longer referenced, so its memory can go (ten closed tabs kept 1.7-2.9 GB)."""
    import weakref

    connected = [True]
    runner = LiveTraining(ClosableTrainer(), slice_s=0.02, publish_s=0.02, release_s=0.2)
    trainer = runner.trainer
    ref = weakref.ref(trainer)
    runner.play(alive=lambda: connected[0])
    wait_for(lambda: runner.snapshot()["step"] > 5)
    connected[0] = False
    wait_for(lambda: runner.released, timeout_s=3)
    assert trainer.closed and runner.trainer is None and not runner.running
    assert runner.snapshot()["step"] == trainer.step  # the last picture stays
    del trainer
    assert ref() is None
    with pytest.raises(ValueError, match="released"):
        runner.play()


def test_a_session_back_within_the_grace_keeps_its_trainer():
    connected = [True]
    runner = LiveTraining(ClosableTrainer(), slice_s=0.02, publish_s=0.02, release_s=1.0)
    runner.play(alive=lambda: connected[0])
    wait_for(lambda: runner.trainer.step > 5)
    connected[0] = False
    wait_for(lambda: not runner.running)
    connected[0] = True  # a network blip: the tab reconnected
    time.sleep(1.3)
    assert not runner.released and not runner.trainer.closed
    runner.play()
    assert runner.playing
    runner.pause()


def test_pause_does_not_wait_for_the_release_grace():
    connected = [True]
    runner = LiveTraining(ClosableTrainer(), slice_s=0.02, publish_s=0.02, release_s=30)
    runner.play(alive=lambda: connected[0])
    wait_for(lambda: runner.trainer.step > 5)
    connected[0] = False
    wait_for(lambda: not runner.running)
    t0 = time.monotonic()
    runner.pause()
    assert time.monotonic() - t0 < 0.5


def test_ten_runners_started_at_once_all_train():
    """Ten sessions pressing Play within a second: every one builds and advances."""
    runners = [LiveTraining(build=SlowBuild(0.2, step_s=0.0005), slice_s=0.02, publish_s=0.02)
               for _ in range(10)]
    try:
        for r in runners:
            r.play()
        wait_for(lambda: all(r.playing and r.snapshot()["step"] > 10 for r in runners),
                 timeout_s=20)
    finally:
        for r in runners:
            r.pause()


def test_build_without_play_makes_the_trainer_and_waits_paused():
    """After a Reset the trainer is built at once, without training."""
    runner = LiveTraining(build=SlowBuild(0.1), slice_s=0.02, publish_s=0.02)
    runner.build()
    wait_for(lambda: not runner.starting and not runner.running)
    assert runner.trainer.step == 0 and not runner.playing
