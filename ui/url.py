"""Link parameters: checked before a widget binds to them, so a bad link never breaks a page.

Streamlit's ``bind="query-params"`` crashes on some values (``?cc_seed=inf`` raised inside
the number input, on every reload, since the URL keeps it) and silently drops others. A page
calls :func:`guard` with one rule per parameter before drawing its widgets: a value a rule
refuses is removed from the URL and named in one warning; the valid ones are kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import streamlit as st

import ui

MAX_LENGTH = 40  # no honest parameter value is longer
Rule = Callable[[str], str]  # raw value -> the value the widget understands; ValueError if bad


def integer(lo: int, hi: int) -> Rule:
    """A whole number in [lo, hi] (digits only: no inf, nan, 1e400 or 80-digit numbers)."""
    def rule(raw: str) -> str:
        if not re.fullmatch(r"[+-]?[0-9]{1,12}", raw.strip()):
            raise ValueError(f"not a whole number between {lo:,} and {hi:,}")
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(f"outside {lo:,} to {hi:,}")
        return str(value)
    return rule


def number(lo: float, hi: float) -> Rule:
    """A finite decimal number in [lo, hi]."""
    def rule(raw: str) -> str:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ValueError(f"not a finite number between {lo:g} and {hi:g}")
        return raw.strip()
    return rule


def choice(options: Sequence, label: Callable | None = None) -> Rule:
    """One of ``options``, given as the option itself or its label; written back as the label
    when a widget shows labels (``format_func``), since that is what Streamlit binds."""
    label = label or str
    def rule(raw: str) -> str:
        raw = raw.strip()
        for option in options:
            if raw in (str(option), str(label(option))):
                return str(label(option))
            if isinstance(option, float):
                try:
                    if math.isclose(float(raw), option, rel_tol=1e-9):
                        return str(label(option))
                except ValueError:
                    pass
        shown = ", ".join(str(label(o)) for o in options[:12])
        raise ValueError(f"not one of {shown}")
    return rule


def guard(rules: dict[str, Rule]) -> dict[str, str]:
    """Check this page's link parameters; drop and name the bad ones. Returns the good ones."""
    good, bad, changed = {}, [], False
    for key, rule in rules.items():
        if key not in st.query_params:
            continue
        raw = st.query_params[key]
        try:
            if len(raw) > MAX_LENGTH:
                raise ValueError(f"longer than {MAX_LENGTH} characters")
            value = rule(raw)
        except ValueError as e:
            del st.query_params[key]
            shown = raw if len(raw) <= MAX_LENGTH else raw[:MAX_LENGTH] + "..."
            bad.append(f"**{key}**={ui.plain(shown)} ({ui.plain(e)})")
            continue
        if value != raw:
            st.query_params[key] = value
            changed = True
        good[key] = value
    if bad or changed:
        _reseed()
    if bad:
        st.warning("This link had values the page cannot use; they were ignored and the rest "
                   "of the link kept: " + "; ".join(bad) + ".", icon=":material/link_off:")
    return good


def _reseed() -> None:
    """Make widgets bind to the checked values. Streamlit seeds bound widgets from the URL as it
    was when the run started (``_initial_query_params``), not from ``st.query_params``: without
    this, ``?cc_seed=inf`` still reached the number input and crashed it."""
    from streamlit.runtime.state.session_state_proxy import get_session_state

    with get_session_state().query_params() as qp:
        qp.set_initial_query_params_from_current()


def follow(key: str, value, default) -> None:
    """Keep ``?key=value`` in the URL for a widget bound by hand (omitted at its default)."""
    if value == default:
        st.query_params.pop(key, None)
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
