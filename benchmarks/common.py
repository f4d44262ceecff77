"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fresh_process_time(code: str, repeat: int = 3, setup: str = "") -> float:
    """Median time a fresh Python process spends running ``code`` after ``setup``."""
    prog = (f"{setup}\nimport time; t0 = time.perf_counter()\n{code}\n"
            "print(time.perf_counter() - t0)")
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", prog], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()[-1])
        for _ in range(repeat))


def apptest_rerun_time(page: str, action=None, repeat: int = 5, timeout: float = 120) -> float:
    """Median server time of a page re-run in AppTest, after ``action(at)`` sets a widget.

    The first run (imports, caches) is excluded: this is what a user waits for per interaction.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    if page != "app.py":
        at.switch_page(page).run()
    times = []
    for i in range(repeat + 1):
        if action is not None:
            action(at, i)
        t0 = time.perf_counter()
        at.run()
        if i:
            times.append(time.perf_counter() - t0)
    if at.exception:
        raise RuntimeError(f"{page} raised: {at.exception}")
    return statistics.median(times)


@contextlib.contextmanager
def served_browser(preload: bool = False):
    """(server, browser): a `streamlit run app.py` server (`genlab run --preload` with
    ``preload``) and a headless Chromium, as the browser tests use them
    (tests/browser/server.py); both closed afterwards."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from playwright.sync_api import sync_playwright
    from server import Server, launch_browser

    server = Server(preload=preload)
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            try:
                yield server, browser
            finally:
                browser.close()
    finally:
        server.stop()


# Counts how often an <img> (found by a CSS selector) shows a new picture. Call
# start_image_counter(page, selector) to zero the count (the observer is installed once per
# page, however many rounds), image_count(page) to read it.
_COUNT_IMAGE_CHANGES = """(selector) => {
    window.__imageChanges = 0;
    if (window.__imageObserver) return;
    let last = document.querySelector(selector).src;
    window.__imageObserver = new MutationObserver(() => {
        const img = document.querySelector(selector);
        if (img && img.src !== last) { last = img.src; window.__imageChanges += 1; }
    });
    window.__imageObserver.observe(document.querySelector("[data-testid='stMain']"),
        {subtree: true, childList: true, attributes: true, attributeFilter: ["src"]});
}"""


def start_image_counter(page, selector: str) -> None:
    page.evaluate(_COUNT_IMAGE_CHANGES, selector)


def image_count(page) -> int:
    return page.evaluate("window.__imageChanges")
