"""ui.reconnect reads the session id a reconnecting browser sends in its websocket handshake."""

import pytest

from ui import reconnect


@pytest.mark.parametrize("header, previous", [
    ("streamlit, token, 1b2c-session", "1b2c-session"),   # reconnecting: the old id
    ("streamlit,token,1b2c-session", "1b2c-session"),
    ("streamlit, token", None),                           # a first visit
    ("streamlit, , 1b2c-session", "1b2c-session"),        # no XSRF token: positions kept
    ("streamlit, token, ", None),
    ("", None),
    (None, None),
])
def test_the_previous_session_is_the_third_protocol_entry(header, previous):
    """Streamlit's frontend sends 'streamlit, <xsrf token>, <last session id>'."""
    assert reconnect.previous_session(header) == previous


def test_outside_a_script_run_no_session_is_lost():
    """No Streamlit runtime (a plain import, AppTest's headers are empty): nothing to say."""
    assert reconnect.lost_session() is False
