"""Say so when a page came back on a server that does not know it.

Behind a proxy with several replicas (``deploy/local.sh``, the Kubernetes manifest), a browser
whose replica dies reconnects through the proxy to a live one. Streamlit's frontend then
opens its websocket with the id of the session it had (the third entry of the
``Sec-WebSocket-Protocol`` header); a server that does not hold that session starts a new
one. That is the case we tell the user about: what the page held on the old server (a model
being trained, an upload, anything not in the link) is gone, and on a new server the first
click only re-runs the page (the new session did not know that button yet), so a click may
have seemed to do nothing. A reconnect to the same server (a network blip) resumes the
session and says nothing; so does a first visit.
"""

from __future__ import annotations

import streamlit as st

KEY = "ui_reconnected_page"  # the page (script hash) where the lost session was noticed
MESSAGE = ("**Reconnected to another server.** The server this page was running on stopped, "
           "so the page now runs on another one. What it held there (a model being trained, "
           "an uploaded file, anything not in the address bar) is gone; the settings in the "
           "address bar are kept. If your last click seemed to do nothing, click again: on "
           "a new server the first click only reloads the page.")


def previous_session(protocol_header: str | None) -> str | None:
    """The session id a reconnecting browser sends (the third entry of the header
    ``Sec-WebSocket-Protocol: streamlit, <xsrf token>, <last session id>``), or None."""
    entries = [e.strip() for e in (protocol_header or "").split(",")]
    return entries[2] if len(entries) >= 3 and entries[2] else None


def lost_session() -> bool:
    """This browser had a session that this server does not hold (a new one was started in
    its place). False in AppTest and on a first visit."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    previous = previous_session(st.context.headers.get("Sec-WebSocket-Protocol"))
    return previous is not None and previous != ctx.session_id


def notice() -> None:
    """On the page where a lost session was noticed, an info box saying what happened (kept
    while the user stays on that page)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    ss = st.session_state
    if KEY not in ss:  # once per session: its first run decides
        ss[KEY] = ctx.page_script_hash if lost_session() else None
    if ss.get(KEY) is not None and ss.get(KEY) == ctx.page_script_hash:
        st.info(MESSAGE, icon=":material/sync_problem:")
