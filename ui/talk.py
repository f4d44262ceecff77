"""Talk mode: a presenter link that reads on a projector, and links that hide chosen controls.

``?talk=1`` collapses the sidebar and enlarges type, widgets and images; ``?hide=a,b`` hides
the widgets keyed ``a`` and ``b`` (TensorFlow Playground's ``_hide`` parameters), so a teacher
can send a pared-down view. Both are kept in session state, so they last while the presenter
moves between pages (some pages rewrite their own URL); ``?talk=0`` and an empty ``?hide=``
turn them off. :func:`ui.setup_page` calls :func:`read_link` and :func:`inject_css`.
"""

from __future__ import annotations

import re

import streamlit as st

import ui
from ui import url

TALK = "genlab_talk"  # session state: talk mode on (bool)
HIDE = "genlab_hide"  # session state: the widget keys to hide (tuple of str)
LINK_KEYS = ("talk", "hide", "tour")  # the presenter's parameters: pages keep them in the URL
MAX_HIDDEN = 40  # keys in one ?hide= list
MAX_KEY = 60  # characters in one key (GenLab's longest is ~20)
WIDGET_KEY = re.compile(r"[A-Za-z0-9_-]+")  # what a key may hold: it becomes a CSS class name
ON, OFF = ("1", "true", "on", "yes"), ("0", "false", "off", "no")

# Streamlit sizes type, widgets and spacing in rem: a larger root font scales them together
# (17 px, config.toml's baseFontSize, -> 22 px: x1.3). Images are zoomed as much, but never
# past their column (measured: no page wider than the window at 390 or 1400 px).
TALK_CSS = """
html { font-size: 22px !important; }
[data-testid="stMainBlockContainer"] { padding-top: 4.5rem; }
[data-testid="stImageContainer"] img { zoom: 1.3; }
"""


def _talk_rule(raw: str) -> str:
    """``1``/``true``/``on``/``yes`` or ``0``/``false``/``off``/``no`` -> ``1`` or ``0``."""
    value = raw.strip().lower()
    if value in ON:
        return "1"
    if value in OFF:
        return "0"
    raise ValueError("not 1 (on) or 0 (off)")


def parse_hide(raw: str) -> tuple[tuple[str, ...], list[str], int]:
    """Split a ``?hide=`` list into widget keys, refused entries and the count over the limit.

    A key holds only ``A-Z a-z 0-9 _ -`` (it becomes a CSS class name), at most
    :data:`MAX_KEY` characters; the first :data:`MAX_HIDDEN` keys are kept. Duplicates and
    empty entries are dropped silently.
    """
    keys: list[str] = []
    bad: list[str] = []
    over = 0
    for entry in raw.split(","):
        key = entry.strip()
        if not key or key in keys:
            continue
        if len(key) > MAX_KEY or not WIDGET_KEY.fullmatch(key):
            bad.append(key)
        elif len(keys) >= MAX_HIDDEN:
            over += 1
        else:
            keys.append(key)
    return tuple(keys), bad, over


def _shown(key: str) -> str:
    return ui.plain(key if len(key) <= 24 else key[:24] + "...")


def read_link() -> bool:
    """Take ``?talk=`` and ``?hide=`` from the link into session state; return talk mode.

    A bad ``talk`` value is dropped and named by :func:`url.guard`; bad ``hide`` entries are
    named in one warning and the valid keys kept.
    """
    ss = st.session_state
    link = url.guard({"talk": _talk_rule})
    if "talk" in link:
        ss[TALK] = link["talk"] == "1"
    if "hide" not in st.query_params:
        return bool(ss.get(TALK, False))
    keys, bad, over = parse_hide(st.query_params["hide"][:(MAX_KEY + 1) * MAX_HIDDEN * 2])
    ss[HIDE] = keys
    if bad or over:
        problems = []
        if bad:
            problems.append("these cannot name a control (a key holds only letters, digits, "
                            f"_ and -, up to {MAX_KEY}): "
                            + ", ".join(f"**{_shown(k)}**" for k in bad[:12])
                            + (f" and {len(bad) - 12} more" if len(bad) > 12 else ""))
        if over:
            problems.append(f"{over} key(s) past the first {MAX_HIDDEN}")
        st.warning("The link's **hide** list was partly ignored: " + "; ".join(problems)
                   + (". The other controls it names are hidden." if keys else "."),
                   icon=":material/visibility_off:")
        if keys:
            st.query_params["hide"] = ",".join(keys)
        else:
            del st.query_params["hide"]
    return bool(ss.get(TALK, False))


def hidden() -> tuple[str, ...]:
    """The widget keys hidden in this session."""
    return tuple(st.session_state.get(HIDE, ()))


def is_on() -> bool:
    return bool(st.session_state.get(TALK, False))


def link_params() -> dict[str, str]:
    """The talk-mode parameters to carry on page links (empty when neither is on)."""
    params = {}
    if is_on():
        params["talk"] = "1"
    if hidden():
        params["hide"] = ",".join(hidden())
    return params


def css(talk: bool, keys: tuple[str, ...]) -> str:
    """The style sheet for talk mode and the hidden keys ('' when there is nothing to do)."""
    rules = [TALK_CSS.strip()] if talk else []
    if keys:  # every keyed widget's container carries the class st-key-<key>
        rules.append(", ".join(f".st-key-{k}" for k in keys) + " { display: none !important; }")
    return "\n".join(rules)


def inject_css() -> None:
    """Add the talk-mode and hide rules to this page (once per run, from ui.setup_page)."""
    sheet = css(is_on(), hidden())
    if sheet:
        st.html(f"<style>\n{sheet}\n</style>")
