"""GAN live-training figures: headless steps/s, live throughput while the page refreshes in a
real Chromium, and sample coverage of the ten digits.

Run: .venv/bin/python -m benchmarks.run gan
The 5-minute training-quality run is opt-in: GENLAB_BENCH_GAN_QUALITY=1 (it takes ~5.5 min);
GENLAB_BENCH_GAN_FIRST_STEP_ONLY=1 measures only the first step after opening the page;
GENLAB_BENCH_GAN_DIGITS_ONLY=1 only the time to digits (the grid's Frechet distance after Play).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import image_count, served_browser, start_image_counter  # noqa: E402

PAGE = "pages/4_GAN_Live_Training.py"
GRID = "[data-testid='stMain'] [data-testid='stImage'] img"
LIVE_SECONDS = 10.0
LIVE_ROUNDS = 4


def _row(name, value, unit, target):
    return {"benchmark": name, "value": float(value), "unit": unit, "target": target}


def headless_steps_per_s(preset: str = "mlp", jit=None, steps: int = 320,
                         repeat: int = 5) -> float:
    """Median steps/s of ``train(steps)`` at batch 64 after compiling (no page, no browser)."""
    from genlib import load_mnist
    from genlib.gan_train import GANTrainer

    trainer = GANTrainer(preset, seed=0, images=load_mnist("sample").train.images,
                         jit=jit, batch_size=64).warm_up()
    trainer.train(steps // 4)
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        trainer.train(steps)
        rates.append(steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def _step_count(page) -> int:
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Step").first
    return int(re.sub(r"\D", "", metric.locator("[data-testid='stMetricValue']").inner_text()))


def _play(page) -> None:
    page.locator(".st-key-gan_play button").click()
    page.locator(".st-key-gan_pause button").wait_for()


def _pause(page) -> None:
    from server import wait_idle  # tests/browser, on the path inside served_browser

    page.locator(".st-key-gan_pause button").click()
    page.locator(".st-key-gan_play button").wait_for()  # the rerun after Pause has drawn
    wait_idle(page)


def live_figures(seconds: float = LIVE_SECONDS, rounds: int = LIVE_ROUNDS) -> dict:
    """Headless and live throughput of the mlp preset, measured in alternating blocks.

    One server and one Chromium; the page plays at full speed in ``rounds`` blocks of
    ``seconds``, and between them, with the page paused (server and browser idle), a trainer
    in this process trains for as long with the same code path (``train_for`` slices).
    Headless throughput on these machines drifts by up to 40% from one minute to the next,
    so a ratio of a headless figure taken minutes before the live one measured the drift as
    much as the page; back-to-back blocks cancel it.

    Returns steps/s headless and live (over all blocks), the live / headless ratio of each
    round, and the grid's refreshes per second while playing.
    """
    from genlib import load_mnist
    from genlib.gan_train import GANTrainer

    trainer = GANTrainer("mlp", seed=0, images=load_mnist("sample").train.images,
                         batch_size=64).warm_up()
    trainer.train_for(2.0)
    with served_browser() as (server, browser):
        from server import open_page  # tests/browser, on the path inside served_browser

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        open_page(page, server, PAGE)
        start = _step_count(page)
        _play(page)
        deadline = time.monotonic() + 180
        while _step_count(page) <= start + 200 and time.monotonic() < deadline:
            time.sleep(0.2)  # past TensorFlow's start and the compile
        _pause(page)
        blocks = {"headless": [], "live": [], "refreshes": []}
        for _ in range(rounds):
            t0, s0 = time.perf_counter(), trainer.step
            while time.perf_counter() - t0 < seconds:
                trainer.train_for(0.1)  # as the training thread does
            blocks["headless"].append((trainer.step - s0, time.perf_counter() - t0))
            _play(page)
            time.sleep(3.0)  # past the first chart and digit-share renders after Play
            # Count grid refreshes inside the page: polling the DOM from here 20 times a
            # second took CPU from the browser, and so from training, as no real viewer does.
            start_image_counter(page, GRID)
            t0, s0 = time.monotonic(), _step_count(page)
            time.sleep(seconds)
            refreshes = image_count(page)
            elapsed, s1 = time.monotonic() - t0, _step_count(page)
            blocks["live"].append((s1 - s0, elapsed))
            blocks["refreshes"].append((refreshes, elapsed))
            _pause(page)
    rate = {k: sum(n for n, _ in v) / sum(t for _, t in v) for k, v in blocks.items()}
    ratios = [(lv[0] / lv[1]) / (hd[0] / hd[1])
              for hd, lv in zip(blocks["headless"], blocks["live"])]
    return {"headless": rate["headless"], "live": rate["live"], "refresh": rate["refreshes"],
            "ratios": ratios}


def _rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def concurrent_sessions(n: int = 10, seconds: float = 30.0) -> dict:
    """``n`` browser tabs on one server, all playing the mlp GAN at full speed: each one's
    steps/s, the server's memory, and its CPU once the tabs are closed."""
    with served_browser() as (server, browser):
        from server import open_page  # tests/browser, on the path inside served_browser

        rss_idle = _rss_mb(server.proc.pid)
        pages = []
        for _ in range(n):
            page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            open_page(page, server, PAGE)
            page.locator(".st-key-gan_play button").click()
            pages.append(page)
        deadline = time.monotonic() + 600
        starts = [_step_count(pg) for pg in pages]
        while time.monotonic() < deadline and any(
                _step_count(pg) <= s + 50 for pg, s in zip(pages, starts)):
            time.sleep(1.0)  # every session has compiled and trains
        rss0 = _rss_mb(server.proc.pid)
        t0 = time.monotonic()
        s0 = [_step_count(pg) for pg in pages]
        time.sleep(seconds)
        s1 = [_step_count(pg) for pg in pages]
        elapsed = time.monotonic() - t0
        rss1 = _rss_mb(server.proc.pid)
        for pg in pages:
            pg.context.close()
        time.sleep(2.0)
        cpu0 = server.cpu_seconds()
        time.sleep(3.0)
        cpu_after = (server.cpu_seconds() - cpu0) / 3.0
    rates = [(b - a) / elapsed for a, b in zip(s0, s1)]
    return {"min": min(rates), "total": sum(rates), "rss_per_session": (rss0 - rss_idle) / n,
            "rss_growth": rss1 - rss0, "cpu_after_close": cpu_after}


def time_to_first_step(wait_before_play: float = 0.0) -> tuple[float, float]:
    """Seconds from opening the GAN page in Chromium (a fresh server: TensorFlow not loaded)
    until the step counter passes the pretrained checkpoint's after pressing Play, the page
    left open ``wait_before_play`` seconds first (it warms TensorFlow up meanwhile); and
    the same counted from the click."""
    with served_browser() as (server, browser):
        from server import page_url  # tests/browser, on the path

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        t0 = time.perf_counter()
        page.goto(page_url(server, PAGE))
        page.locator(".st-key-gan_play button").wait_for(timeout=120_000)
        start = _step_count(page)
        time.sleep(max(0.0, wait_before_play - (time.perf_counter() - t0)))
        t_click = time.perf_counter()
        page.locator(".st-key-gan_play button").click()
        deadline = time.monotonic() + 180
        while _step_count(page) <= start and time.monotonic() < deadline:
            time.sleep(0.05)
        return time.perf_counter() - t0, time.perf_counter() - t_click


def sessions_memory(n: int = 10, seconds: float = 20.0) -> dict:
    """Server memory (MiB) idle, with ``n`` tabs playing, and after closing them all: 25 s
    later (the trainers of gone sessions are released after a 20 s grace)."""
    with served_browser() as (server, browser):
        from server import open_page  # tests/browser, on the path

        rss = {"idle": _rss_mb(server.proc.pid)}
        # the floor once TensorFlow is in: one tab plays, then closes (TF cannot be unloaded)
        one = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        open_page(one, server, PAGE)
        start = _step_count(one)
        one.locator(".st-key-gan_play button").click()
        deadline = time.monotonic() + 180
        while _step_count(one) <= start + 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)
        one.context.close()
        time.sleep(25.0)
        rss["one_closed"] = _rss_mb(server.proc.pid)
        pages = []
        for _ in range(n):
            page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            open_page(page, server, PAGE)
            pages.append(page)
        for page in pages:  # all within a second
            page.locator(".st-key-gan_play button").click()
        starts = [_step_count(pg) for pg in pages]
        time.sleep(seconds)
        rss["playing"] = _rss_mb(server.proc.pid)
        rss["lost"] = sum(_step_count(pg) <= s for pg, s in zip(pages, starts))
        for pg in pages:
            pg.context.close()
        time.sleep(25.0)
        rss["closed"] = _rss_mb(server.proc.pid)
    return rss


DIGITS_S = 30.0  # how long after Play the grid is followed (captured every second)
DIGITS_AT = (5, 10, 15, 20, 30)  # seconds after Play whose grid's figure is shown
DIGITS_TARGET = 60.0  # the "digits": the grid's Frechet distance at most this
DIGITS_SEEDS = (1, 2, 3, 4)  # more headless runs from other seeds (other users' Resets)


class GridJudge:
    """Frechet distance of a 64-digit fixed-noise grid to the scoreboard's reference digits
    (the judge CNN's features, the held-out half R), and the floor: 64 real held-out digits."""

    def __init__(self):
        from genlib import load_mnist, metrics
        from genlib.classifier import load_classifier
        from genlib.scoreboard import prepare_reference

        self.judge = load_classifier()
        self.ref = prepare_reference(load_mnist("sample"), self.judge)
        self._fd = metrics.frechet_distance
        self.floor = self(self.ref.real_images[:64])

    def __call__(self, images) -> float:
        return self._fd(self.judge.features(images), self.ref.ref_feats)


def _untile(png: bytes, n: int = 64, cols: int = 8, pad: int = 2):
    """The digits of a ``ui.show_grid`` PNG (tiles of 28 px + ``pad`` at any scale)."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float32) / 255.0
    scale = img.shape[1] // (cols * (28 + pad) - pad)
    img = img[::scale, ::scale]
    return np.stack([img[r * (28 + pad):r * (28 + pad) + 28, c * (28 + pad):c * (28 + pad) + 28]
                     for r, c in (divmod(i, cols) for i in range(n))])


def digits_headless(judge: GridJudge, seed: int = 0) -> list[tuple[float, int, float]]:
    """(seconds, step, grid FD) every second of a fresh mlp trainer (seed 0: the page's
    Reset) trained from its first call, compile included, as the page's training thread
    does."""
    from genlib import load_mnist
    from genlib.gan_train import GANTrainer

    trainer = GANTrainer("mlp", seed=seed, images=load_mnist("sample").train.images,
                         jit_later=True)
    grids, t0 = [], time.perf_counter()
    while len(grids) < DIGITS_S:
        trainer.train_for(0.1)
        if time.perf_counter() - t0 >= len(grids) + 1:
            grids.append((time.perf_counter() - t0, trainer.step, trainer.snapshot()["fixed"]))
    trainer.close()
    return [(t, step, judge(fixed)) for t, step, fixed in grids]


def digits_live(judge: GridJudge, settle: float = 5.0,
                preload: bool = False) -> list[tuple[float, int, float]]:
    """(seconds after Play, step, FD of the grid the page shows) every second in Chromium: a
    fresh server, the GAN page open and idle, Reset (fresh weights, seed 0), ``settle`` s,
    then Play; the grid image is read back from the page, so the figure is of what a watcher
    sees (judged after the run, not beside it).

    At 0 and 5 s TensorFlow's import (4-6 s from the page's opening) and the step's compile
    (a further ~4 s) fall inside the 20 s; at 20 s they are done before Play, as for a
    presenter who opened the page first or any later session of the server. ``preload``:
    the server is started by `genlab run --preload` (both under way from its start) and the
    page opened as soon as it answers."""
    import base64

    with served_browser(preload) as (server, browser):
        from server import open_page, wait_idle  # tests/browser, on the path

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        open_page(page, server, PAGE)
        wait_idle(page)
        page.locator(".st-key-gan_reset button").first.click()
        wait_idle(page)
        # the fresh model is on the page (step 0) before Play: once the idle check came
        # before Reset's rerun began, and the first second judged the shipped model's grid
        deadline = time.monotonic() + 60
        while _step_count(page) != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("Reset did not bring the page to step 0 within 60 s")
            time.sleep(0.05)
        wait_idle(page)
        time.sleep(settle)
        page.locator(".st-key-gan_play button").click()
        t0, grids = time.perf_counter(), []
        grid = page.locator(".st-key-gan_grid_box [data-testid='stImage'] img").first
        while len(grids) < DIGITS_S:
            time.sleep(max(0.0, len(grids) + 1 - (time.perf_counter() - t0)))
            src = grid.get_attribute("src")  # a data: URL (ui.inline_image)
            grids.append((time.perf_counter() - t0, _step_count(page), src))
            if page.get_by_text("Training in numpy").count():
                print(f"    live, {len(grids)} s after Play: still training in numpy",
                      file=sys.stderr)
    return [(t, step, judge(_untile(base64.b64decode(src.split(",", 1)[1]))))
            for t, step, src in grids]


def first_digits(judged: list[tuple[float, int, float]]) -> float:
    """Seconds after Play until the grid first scores at most DIGITS_TARGET (inf: never)."""
    return next((t for t, _, fd in judged if fd <= DIGITS_TARGET), float("inf"))


def smallest_share(sampler, n: int = 1000) -> tuple[float, str]:
    """Smallest share of any digit among ``n`` samples, and which judge counted them."""
    from genlib import gan

    judge, name = gan.load_judge()
    return float(gan.digit_shares(judge.predict(sampler(n, rng=0).images)).min()), name


def digits_rows():
    """Time to digits (issue 16): seconds from Play until the mlp grid's Frechet distance
    first reaches DIGITS_TARGET, and the distance at DIGITS_AT seconds."""
    judge = GridJudge()
    yield _row("time to digits: FD of 64 real held-out digits (the floor)", judge.floor, "", "")
    for label, run in (("headless", digits_headless),
                       ("live, Play at once after Reset", lambda j: digits_live(j, settle=0.0)),
                       ("live, `genlab run --preload`, Play at once after Reset",
                        lambda j: digits_live(j, settle=0.0, preload=True)),
                       ("live, Play 5 s after Reset", digits_live),
                       ("live, Play 20 s after Reset", lambda j: digits_live(j, settle=20.0))):
        judged = run(judge)
        yield _row(f"  {label}: seconds until the grid's FD <= {DIGITS_TARGET:.0f}",
                   first_digits(judged), "s", "<= 20")
        for t, step, fd in judged:
            if round(t) in DIGITS_AT:
                yield _row(f"    grid FD {t:.0f} s after Play (step {step:,})", fd, "", "")
    for seed in DIGITS_SEEDS:
        judged = digits_headless(judge, seed=seed)
        t, step, fd = judged[19]
        yield _row(f"  headless, seed {seed}: seconds until FD <= {DIGITS_TARGET:.0f} "
                   f"(at {t:.0f} s: {fd:.1f}, step {step:,})", first_digits(judged), "s",
                   "<= 20")


def rows():
    os.environ.setdefault("GENLAB_OFFLINE", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from genlib import gan, load_mnist
    from genlib.gan_train import GANTrainer

    if os.environ.get("GENLAB_BENCH_GAN_DIGITS_ONLY"):  # the time-to-digits rows alone (~6 min)
        yield from digits_rows()
        return
    for wait in (0.0, 5.0, 10.0):
        from_open, from_click = time_to_first_step(wait)
        yield _row(f"first step after opening the page, Play pressed at {wait:.0f} s",
                   from_open, "s", "<= 4 (from the click)")
        yield _row("  the same, counted from the click", from_click, "s", "<= 4")
    if os.environ.get("GENLAB_BENCH_GAN_FIRST_STEP_ONLY"):  # the issue-18 rows alone (~2 min)
        return
    yield from digits_rows()
    mem = sessions_memory()
    yield _row("server memory, idle (fresh server, GAN page not yet open)", mem["idle"], "MiB",
               "")
    yield _row("  one tab played 200+ steps, 25 s after closing it (TensorFlow loaded)",
               mem["one_closed"], "MiB", "the floor")
    yield _row("  10 tabs pressed Play within a second, 20 s later", mem["playing"], "MiB",
               f"({mem['lost']:.0f} tab(s) not advancing)")
    yield _row("  25 s after closing all 10 tabs", mem["closed"], "MiB", "back near the floor")
    headless = headless_steps_per_s("mlp")
    yield _row("headless mlp, batch 64, XLA, 32 steps per call", headless, "steps/s",
               ">= 250")
    yield _row("headless mlp, batch 64, no XLA (reference)",
               headless_steps_per_s("mlp", jit=False), "steps/s", "")
    yield _row("headless dcgan, batch 64 (reference)",
               headless_steps_per_s("dcgan", steps=32, repeat=3), "steps/s", "")
    live = live_figures()
    yield _row(f"alternating {LIVE_ROUNDS} x {LIVE_SECONDS:.0f} s blocks: headless "
               "(train_for slices)", live["headless"], "steps/s", "")
    yield _row("  live mlp in Chromium, page playing at full speed", live["live"], "steps/s",
               "")
    yield _row("  live page refreshes of the grid", live["refresh"], "1/s", ">= 2")
    yield _row("  live / headless throughput, all blocks", 100 * live["live"] / live["headless"],
               "%", ">= 75")
    yield _row("  live / headless throughput, worst round", 100 * min(live["ratios"]), "%",
               f"(rounds: {', '.join(f'{100 * r:.0f}' for r in live['ratios'])})")
    if os.environ.get("GENLAB_BENCH_GAN_SESSIONS", "1") != "0":
        c = concurrent_sessions()
        yield _row("10 tabs playing at once: slowest tab", c["min"], "steps/s", "> 0, all progress")
        yield _row("10 tabs playing at once: all tabs together", c["total"], "steps/s",
                   f"({100 * c['total'] / headless:.0f}% of headless)")
        yield _row("10 tabs: server memory per training session", c["rss_per_session"], "MiB", "")
        yield _row("10 tabs: server memory growth over 30 s of training", c["rss_growth"], "MiB",
                   "bounded")
        yield _row("10 tabs closed: server CPU use after 2 s", 100 * c["cpu_after_close"], "%",
                   "~0 (threads stopped)")
    for preset in gan.PRESETS:
        ck = gan.GAN.load_pretrained(preset)
        share, judge = smallest_share(ck.sample)
        yield _row(f"shipped {preset} ({ck.step:,} steps): smallest digit share, {judge}",
                   100 * share, "%", ">= 4")
    if os.environ.get("GENLAB_BENCH_GAN_QUALITY"):
        trainer = GANTrainer("mlp", seed=0, images=load_mnist("sample").train.images)
        trainer.warm_up()
        t0 = time.perf_counter()
        rss = []
        while time.perf_counter() - t0 < 300:
            trainer.train_for(5.0)
            trainer.snapshot()  # as the page does
            rss.append(_rss_mb(os.getpid()))
        share, judge = smallest_share(trainer.sample)
        yield _row(f"mlp after 5 min from scratch ({trainer.step:,} steps): smallest digit "
                   f"share, {judge}", 100 * share, "%", ">= 4")
        yield _row("  process memory growth from minute 1 to minute 5", rss[-1] - rss[11],
                   "MiB", "bounded")
