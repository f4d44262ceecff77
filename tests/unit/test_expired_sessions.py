"""ui.expired_sessions against Streamlit's own session manager and store: a closed tab's
session is shut down once its reconnect time is up, and not before."""

import threading
from unittest import mock

from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.session_manager import SessionInfo
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

from ui import expired_sessions


class FakeSession:
    def __init__(self, session_id):
        self.id = session_id
        self.shut_down = 0

    def shutdown(self):
        self.shut_down += 1


class Clock:
    """The store's timer, moved by hand: no test depends on how busy the machine is."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def manager(ttl: float, maxsize: int = 128) -> WebsocketSessionManager:
    mgr = WebsocketSessionManager(
        session_storage=MemorySessionStorage(maxsize=maxsize, ttl_seconds=ttl),
        uploaded_file_manager=mock.MagicMock(), script_cache=mock.MagicMock(),
        message_enqueued_callback=None)
    mgr.clock = mgr._session_storage._cache._timer = Clock()
    return mgr


def save(mgr, session):
    mgr._session_storage.save(SessionInfo(client=None, session=session))


def test_expired_sessions_are_shut_down_once_and_leave_the_store():
    mgr = manager(ttl=0.2)
    expired_sessions.install(mgr)
    old = FakeSession("closed-tab")
    save(mgr, old)
    mgr.clock.now += 0.3
    young = FakeSession("blip")  # disconnected a moment ago: may still reconnect
    save(mgr, young)  # this write reaps the expired one: it must still be shut down

    assert expired_sessions.sweep(mgr) == 1
    assert old.shut_down == 1 and young.shut_down == 0
    assert mgr.get_session_info("closed-tab") is None
    assert mgr.get_session_info("blip").session is young
    assert expired_sessions.sweep(mgr) == 0 and old.shut_down == 1


def test_a_failing_shutdown_does_not_stop_the_others():
    mgr = manager(ttl=0.05)
    bad, good = FakeSession("a"), FakeSession("b")
    bad.shutdown = mock.Mock(side_effect=RuntimeError("boom"))
    for s in (bad, good):
        save(mgr, s)
    mgr.clock.now += 0.1
    assert expired_sessions.sweep(mgr) == 2
    assert good.shut_down == 1


def test_sessions_reaped_by_the_sweep_and_evicted_when_full_are_shut_down():
    mgr = manager(ttl=0.2)
    gone = FakeSession("gone")
    save(mgr, gone)
    mgr.clock.now += 0.3
    assert expired_sessions.sweep(mgr) == 1 and gone.shut_down == 1

    full = manager(ttl=60, maxsize=2)
    expired_sessions.install(full)
    sessions = [FakeSession(f"s{i}") for i in range(3)]
    for s in sessions:
        save(full, s)
    assert expired_sessions.sweep(full) == 1
    assert [s.shut_down for s in sessions] == [1, 0, 0]


def test_a_session_taken_out_to_reconnect_is_not_shut_down():
    mgr = manager(ttl=60)
    expired_sessions.install(mgr)
    back = FakeSession("back")
    save(mgr, back)
    mgr._session_storage.delete("back")  # what the manager does when the tab reconnects
    save(mgr, back)  # and saves it again at the next disconnect
    assert expired_sessions.sweep(mgr) == 0 and back.shut_down == 0


def test_start_outside_a_server_does_nothing(monkeypatch):
    from streamlit.runtime import Runtime

    monkeypatch.setattr(expired_sessions, "_started", threading.Event())
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: False))
    expired_sessions.start()
    assert not expired_sessions._started.is_set()


def test_start_under_apptest_stand_in_runtime_does_nothing(monkeypatch):
    from streamlit.runtime import Runtime

    monkeypatch.setattr(expired_sessions, "_started", threading.Event())
    monkeypatch.setattr(Runtime, "_instance", mock.MagicMock(spec=Runtime))  # as AppTest does
    expired_sessions.start()
    assert not expired_sessions._started.is_set()
