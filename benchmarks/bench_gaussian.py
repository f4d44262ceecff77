"""Gaussian explorer figures: inverse-transform sampling speed, page re-runs on slider moves."""

from __future__ import annotations

import statistics
import time

import numpy as np
from scipy import stats

from benchmarks.common import apptest_rerun_time, median_time, served_browser
from genlib import distributions as gd
from ui import charts
from ui import gaussian_view as gv

PAGE = "pages/1_Gaussian_Explorer.py"


def rows():
    dist = gd.default()
    yield {"benchmark": "inverse transform, 1,000,000 normal points (ndtri)",
           "value": median_time(lambda: gd.inverse_transform_sample(dist, 1_000_000, 0)),
           "unit": "s", "target": "< 0.1 s"}
    z = np.random.default_rng(0).random(1_000_000)
    yield {"benchmark": "  the same ppf with scipy.stats.norm.ppf (not used)",
           "value": median_time(lambda: stats.norm.ppf(z, 200, 40)), "unit": "s",
           "target": "(reference)"}
    yield {"benchmark": "numpy's rng.normal, 1,000,000 points (reference)",
           "value": median_time(lambda: np.random.default_rng(0).normal(200, 40, 1_000_000)),
           "unit": "s", "target": "(reference)"}
    for family in ("gamma", "beta"):
        d = gd.default(family)
        yield {"benchmark": f"inverse transform, 100,000 {family} points",
               "value": median_time(lambda d=d: gd.inverse_transform_sample(d, 100_000, 0),
                                    repeat=3),
               "unit": "s", "target": "(no closed-form ppf)"}
    yield {"benchmark": "pdf/cdf crosshair chart specs for one z",
           "value": median_time(lambda: charts.crosshair_charts(dist, 0.3), repeat=20),
           "unit": "s", "target": ""}
    s = gd.compare_samplers(dist, 100_000, 0)
    yield {"benchmark": "  samples + KS tests + chart specs for n = 100,000",
           "value": median_time(lambda: (gd.compare_samplers(dist, 100_000, 0),
                                         charts.sample_charts(dist, s.z, s.x, s.x_direct),
                                         charts.likelihood_charts(
                                             gd.likelihood_profiles(s.x, 200, 40))), repeat=5),
           "unit": "s", "target": ""}
    yield {"benchmark": "  the same three figures by matplotlib (PNG downloads only)",
           "value": median_time(lambda: (gv.inverse_transform_png(dist, 0.3),
                                         gv.sample_figure_png(dist, s.z, s.x, s.x_direct),
                                         gv.likelihood_figure_png(s.x, 200, 40)), repeat=3),
           "unit": "s", "target": "(on click)"}
    yield from page_rows()
    yield from browser_rows()


def page_rows():
    """AppTest server time of the page after a slider move (the first, cold run excluded)."""
    for n in (1_000, 100_000):
        def move_z(at, i, n=n):
            if i == 0:
                at.number_input(key="g_n").set_value(n)
            at.slider(key="g_z").set_value(0.05 + 0.09 * i)

        yield {"benchmark": f"page re-run after a z slider move, n = {n:,}",
               "value": apptest_rerun_time(PAGE, move_z, repeat=7), "unit": "s",
               "target": "< 0.15 s"}

    for n in (1_000, 100_000):
        def move_mu(at, i, n=n):
            if i == 0:
                at.number_input(key="g_n").set_value(n)
            at.slider(key="g_normal_mu_s").set_value(150.0 + i)  # a new view: caches miss

        yield {"benchmark": f"page re-run after a mu slider move, n = {n:,}",
               "value": apptest_rerun_time(PAGE, move_mu, repeat=3), "unit": "s",
               "target": "< 0.15 s"}


def browser_rows():
    """Round trip in Chromium: z slider nudged by a key press until the new x is on screen."""
    with served_browser() as (server, browser):
        from server import open_page  # tests/browser, on the path inside served_browser

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        open_page(page, server, PAGE)
        thumb = page.locator("[data-testid='stSlider']").filter(
            has_text="Latent z").get_by_role("slider")
        metric = page.locator("[data-testid='stMetric']").filter(
            has_text="x = ppf(z)").locator("[data-testid='stMetricValue']")
        times = []
        for _ in range(8):
            before = metric.inner_text()
            thumb.focus()
            t0 = time.perf_counter()
            thumb.press("ArrowLeft")
            page.wait_for_function(
                "([el, old]) => el.innerText !== old", arg=[metric.element_handle(), before],
                timeout=30_000)
            times.append(time.perf_counter() - t0)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state="
                                   "'notRunning']", timeout=30_000)
    yield {"benchmark": "browser: z slider key press -> new x shown (round trip)",
           "value": statistics.median(times[1:]), "unit": "s", "target": "< 0.3 s"}
