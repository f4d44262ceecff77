"""ui.trainer_cap's reaper: a counted trainer whose tab has gone is released (closed, and its
place in the cap freed) once its thread is not running, after its release_s; others are kept."""

import pytest

from genlib.live import LiveTraining
from ui import trainer_cap


class Trainer:
    """The smallest trainer LiveTraining drives; remembers whether it was closed."""

    step = 0
    closed = False

    def train(self, steps):
        self.step += steps
        return {}

    def train_for(self, seconds, max_steps=None):
        return self.train(1)

    def snapshot(self):
        return {"step": self.step}

    def close(self):
        self.closed = True


@pytest.fixture
def roomy(monkeypatch):
    monkeypatch.setenv(trainer_cap.MAX_TRAINERS_ENV, str(trainer_cap.active_trainers() + 5))
    monkeypatch.setattr(trainer_cap, "watch", lambda: None)  # reap() is called by hand here


def test_a_closed_tabs_paused_trainer_is_released_after_release_s(roomy):
    """Gone for less than release_s: kept; then released, closed, and no longer counted."""
    trainer, tab = Trainer(), {"open": True}
    runner = trainer_cap.claim(lambda: LiveTraining(trainer, release_s=20.0),
                               alive=lambda: tab["open"])
    counted = trainer_cap.active_trainers()
    tab["open"] = False
    assert trainer_cap.reap(now=1000.0) == 0  # just noticed
    assert trainer_cap.reap(now=1019.0) == 0 and not runner.released
    assert trainer_cap.reap(now=1020.5) == 1
    assert runner.released and trainer.closed and runner.trainer is None
    assert trainer_cap.active_trainers() == counted - 1


def test_a_tab_that_comes_back_keeps_its_trainer(roomy):
    """Gone, then connected again before release_s: the clock starts over."""
    trainer, tab = Trainer(), {"open": False}
    runner = trainer_cap.claim(lambda: LiveTraining(trainer, release_s=20.0),
                               alive=lambda: tab["open"])
    trainer_cap.reap(now=0.0)
    tab["open"] = True
    trainer_cap.reap(now=15.0)
    tab["open"] = False
    assert trainer_cap.reap(now=30.0) == 0 and not runner.released  # gone since 30 s only
    assert trainer_cap.reap(now=50.0) == 1 and runner.released
    runner.release()


def test_an_open_tabs_trainer_is_never_released(roomy):
    trainer = Trainer()
    runner = trainer_cap.claim(lambda: LiveTraining(trainer, release_s=0.0), alive=lambda: True)
    assert trainer_cap.reap(now=1e9) == 0 and not runner.released and not trainer.closed
    runner.release()
