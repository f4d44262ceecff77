"""Drawing-pad figures: strokes -> digit, and what a stroke's end costs each page.

A stroke ending is the pad's state changing (AppTest: its session-state entry, then a run).
Every stroke here is a new drawing (shifted a little each time), so no cache answers it.
The class-conditional and GAN pages keep the pad in an ``@st.fragment``: a browser re-runs only
that fragment, measured as bench_vae does (a fragment-scoped rerun through AppTest's
internals; NaN if this Streamlit lacks them). The VAE page re-runs whole: a drawing sets the
sliders, which are drawn before the pad. Last, the wall time in Chromium from releasing the
mouse to the verdict on screen.

Run: .venv/bin/python -m benchmarks.run drawing
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CC, VAE, GAN = ("pages/2_Class_Conditional_Sampling.py", "pages/3_VAE_Latent_Space.py",
                "pages/4_GAN_Live_Training.py")


def _row(name, value, unit, target):
    return {"benchmark": name, "value": float(value), "unit": unit, "target": target}


def _strokes(k: int) -> list:
    """A 7, shifted by k thousandths of the pad: a new drawing, the same digit."""
    from genlib import drawing

    d = 0.002 * k
    return [drawing.line(0.25 + d, 0.2, 0.75 + d, 0.2) + drawing.line(0.75 + d, 0.2, 0.45 + d,
                                                                       0.85)]


def _stroke_ends(page: str, key: str, repeat: int = 7, fragment: str | None = None,
                 check=None) -> float:
    """Median ms of a run after a new stroke: the whole script, or only ``fragment`` (the name
    of the page's fragment function) as a browser would re-run it."""
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1 import local_script_runner as lsr

    from ui.drawing_pad import pad_key

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(page).run()
    at.session_state[pad_key(key)] = {"strokes": _strokes(99)}
    at.run()  # the judge, the reference digits, the GAN's pool: loaded once per session
    if page == GAN:  # the page loads TensorFlow and compiles G's step in a background thread:
        from ui import gan_controller  # measure the steady state, not that thread's CPU

        gan_controller._precompiled.wait(300)
    rerun_data, patched = getattr(lsr, "RerunData", None), False
    if fragment is not None:
        ids = [fid for fid, fn in getattr(at._fragment_storage, "_fragments", {}).items()
               if any(getattr(c.cell_contents, "__name__", None) == fragment
                      for c in (getattr(fn, "__closure__", None) or ()))]
        if len(ids) != 1 or rerun_data is None:
            return float("nan")
        lsr.RerunData = lambda **kw: rerun_data(**kw, fragment_id_queue=ids)
        patched = True
    try:
        times = []
        for k in range(repeat):
            at.session_state[pad_key(key)] = {"strokes": _strokes(k)}
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception}")
            if check is not None:
                check(at, k)
        return statistics.median(times) * 1000
    finally:
        if patched:
            lsr.RerunData = rerun_data


def _vae_round_trip_check(at, k: int) -> None:
    """The sliders hold the drawing's code after the run (else the figure means nothing)."""
    import numpy as np

    from genlib import drawing, vae

    model = vae.load_model("conv")
    want = np.clip(model.encode(drawing.digit_from_strokes(_strokes(k)))[0][0], -3, 3)
    got = [at.slider(key=f"vae_z_conv_{i}").value for i in range(model.latent_dim)]
    if not np.allclose(got, want, atol=0.011):
        raise RuntimeError(f"sliders {got} are not the drawing's code {want}")


def _browser_stroke_ms(repeat: int = 5) -> float:
    """Chromium, class-conditional page: mouse released -> the Bayes verdict on screen (ms)."""
    from playwright.sync_api import expect

    from benchmarks.common import served_browser

    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from server import open_page

    with served_browser() as (server, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_page(page, server, CC)
        page.get_by_role("tab", name="Your digit").click()
        canvas = page.locator("[data-testid='stMain'] canvas.pad-canvas").first
        expect(canvas).to_be_visible(timeout=30_000)
        box = canvas.bounding_box()
        main = page.locator("[data-testid='stMain']")
        times = []
        for k in range(repeat + 1):
            page.get_by_role("button", name="Clear").click()
            expect(main.get_by_text("Draw a digit on the pad")).to_be_visible(timeout=30_000)
            x = box["x"] + (0.5 + 0.01 * k) * box["width"]
            page.mouse.move(x, box["y"] + 0.15 * box["height"])
            page.mouse.down()
            for i in range(1, 11):
                page.mouse.move(x, box["y"] + (0.15 + 0.07 * i) * box["height"])
            t = time.perf_counter()
            page.mouse.up()
            expect(main.get_by_text("The judge reads it as 1")).to_be_visible(timeout=30_000)
            expect(main.locator("[data-testid='stMetric']").filter(
                has_text="Bayes classifier says")).to_be_visible(timeout=30_000)
            if k:
                times.append(time.perf_counter() - t)
        return statistics.median(times) * 1000


def rows():
    os.environ.setdefault("GENLAB_OFFLINE", "1")
    from genlib import drawing

    seven = _strokes(0)
    drawing.digit_from_strokes(seven)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        drawing.digit_from_strokes(seven)
        times.append(time.perf_counter() - t)
    yield _row(f"strokes -> 28 x 28 digit ({sum(map(len, seven))} points, MNIST recipe)",
               statistics.median(times) * 1000, "ms", "< 10 ms")
    yield _row("stroke end, class-conditional: whole page (AppTest at.run)",
               _stroke_ends(CC, "cc"), "ms", "(reference)")
    yield _row("stroke end, class-conditional: pad fragment (as a browser)",
               _stroke_ends(CC, "cc", fragment="yours"), "ms", "<= 150 ms")
    yield _row("stroke end, GAN: whole page (AppTest at.run)",
               _stroke_ends(GAN, "gan"), "ms", "(reference)")
    yield _row("stroke end, GAN: pad fragment, closest of 1,000 samples",
               _stroke_ends(GAN, "gan", fragment="yours"), "ms", "<= 150 ms")
    yield _row("pad -> VAE code -> sliders round trip (whole page, AppTest)",
               _stroke_ends(VAE, "vae", check=_vae_round_trip_check), "ms", "<= 300 ms")
    if not math.isnan(ms := _browser_stroke_ms()):
        yield _row("Chromium: mouse up -> Bayes verdict on screen (class-cond.)", ms, "ms",
                   "(reference)")
