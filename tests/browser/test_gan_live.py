"""The GAN page in a real Chromium: Play trains, the fixed-noise grid changes as it does, and
every export downloads a valid file after training."""

import re
import time
import zipfile
from pathlib import Path

import pytest
from server import Server, open_page, wait_idle

from genlib import gan

pytest.importorskip("tensorflow")

PAGE = "pages/4_GAN_Live_Training.py"
GRID = "[data-testid='stMain'] [data-testid='stImage'] img"


def step_count(page) -> int:
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Step").first
    text = metric.locator("[data-testid='stMetricValue']").inner_text()
    return int(re.sub(r"\D", "", text))


def wait_for(predicate, timeout_s: float = 120.0, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError("timed out waiting for the page")


def test_grid_changes_over_two_refreshes_while_playing(page, server, screenshot_dir):
    """After Play, the step count grows and the grid image is redrawn on two later refreshes;
    after Pause, the step count stops."""
    open_page(page, server, PAGE)
    start = step_count(page)
    page.locator(".st-key-gan_play button").click()
    # the first refresh starts TensorFlow and compiles the train step: allow for it
    wait_for(lambda: step_count(page) > start, timeout_s=180)
    grids, steps = [], []
    for _ in range(3):
        src = page.locator(GRID).first.get_attribute("src")
        wait_for(lambda old=src: page.locator(GRID).first.get_attribute("src") != old,
                 timeout_s=30)
        grids.append(page.locator(GRID).first.get_attribute("src"))
        steps.append(step_count(page))
    assert len(set(grids)) == 3, grids
    assert steps[0] < steps[1] < steps[2], steps
    page.screenshot(path=str(screenshot_dir / "gan_playing.png"))
    assert page.locator("[data-testid='stException']").count() == 0

    page.locator(".st-key-gan_pause button").click()
    page.locator(".st-key-gan_play button").wait_for()  # the rerun after Pause has drawn
    wait_idle(page)
    paused = step_count(page)
    page.wait_for_timeout(1500)
    assert step_count(page) == paused


def test_closing_the_tab_stops_its_training(browser, server):
    """Training runs in a server thread per session: closing the tab must stop it (the
    server's CPU use falls back to idle), not leave it training for nobody."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    open_page(page, server, PAGE)
    start = step_count(page)
    page.locator(".st-key-gan_play button").click()
    wait_for(lambda: step_count(page) > start + 100, timeout_s=180)
    busy0 = server.cpu_seconds()
    time.sleep(2.0)
    busy = server.cpu_seconds() - busy0
    assert busy > 1.0, f"training used only {busy:.2f} s of CPU in 2 s"
    context.close()
    time.sleep(1.5)  # the websocket closes; the thread sees it after its current slice
    idle0 = server.cpu_seconds()
    time.sleep(2.0)
    idle = server.cpu_seconds() - idle0
    assert idle < 0.3, f"the server still used {idle:.2f} s of CPU in 2 s after the tab closed"


def download(page, key: str, tmp_path):
    """Click the download button ``key`` and return the path of the file it gave."""
    with page.expect_download(timeout=60_000) as info:
        page.locator(f".st-key-{key} button").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_every_export_downloads_after_training(page, server, tmp_path):
    """Issue 18: after a few training steps each export (grid PNG, GIF, CSV, weights) yields a
    valid file; the weights load with genlib.gan.GAN.load."""
    from playwright.sync_api import expect

    open_page(page, server, PAGE)
    start = step_count(page)  # Step continues the pretrained GAN
    page.locator(".st-key-gan_step_n input").fill("5")
    page.locator(".st-key-gan_step_n input").press("Enter")
    wait_idle(page)
    page.locator(".st-key-gan_step button").click()
    # the first Step starts TensorFlow and compiles the train step: allow for it
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Step").first
    expect(metric.locator("[data-testid='stMetricValue']")).to_have_text(f"{start + 5:,}",
                                                                        timeout=180_000)
    wait_idle(page)

    png = download(page, "gan_grid_png", tmp_path).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    gif = download(page, "gan_gif", tmp_path).read_bytes()
    assert gif[:6] in (b"GIF87a", b"GIF89a")
    csv = download(page, "gan_csv", tmp_path).read_text().splitlines()
    assert csv[0] == "step,d_loss,g_loss,d_real,d_fake" and csv[-1].startswith(f"{start + 5},")
    with zipfile.ZipFile(download(page, "gan_weights", tmp_path)) as z:
        z.extractall(tmp_path / "weights")
    model = gan.GAN.load(tmp_path / "weights" / "gan_mlp.npz")
    assert model.step == start + 5 and model.sample(2, rng=0).images.shape == (2, 28, 28)
    assert page.locator("[data-testid='stException']").count() == 0


def test_tabs_pressing_play_at_once_all_train(browser, server):
    """Issue 18: four tabs press Play within a second: none loses its click (each shows
    'starting...' or trains, never 'paused'), and every one advances."""
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(4)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            open_page(pg, server, PAGE)
        starts = [step_count(pg) for pg in pages]
        for pg in pages:
            pg.locator(".st-key-gan_play button").click()
        for pg in pages:  # the click is taken at once: Pause shows, the rate is not "paused"
            pg.locator(".st-key-gan_pause button").wait_for(timeout=15_000)
        rates = "[data-testid='stMetric']:has-text('Steps / s') [data-testid='stMetricValue']"
        for pg, start in zip(pages, starts):
            wait_for(lambda pg=pg, start=start: step_count(pg) > start + 20, timeout_s=45)
            assert pg.locator(rates).first.inner_text() != "paused"
            assert pg.locator("[data-testid='stException']").count() == 0
    finally:
        for c in contexts:
            c.close()


def test_genlab_run_preload_loads_tensorflow_before_any_page_opens(browser):
    """`genlab run --preload` (a talk): TensorFlow is in the server before any browser has
    connected (a plain server imports it when a page first needs it), and the GAN page of
    that server trains on it: Play never waits for TensorFlow's import."""
    server = Server(preload=True)
    try:
        maps = Path(f"/proc/{server.proc.pid}/maps")
        wait_for(lambda: "libtensorflow" in maps.read_text(), timeout_s=120, poll_s=0.5)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        open_page(page, server, PAGE)
        start = step_count(page)
        page.locator(".st-key-gan_play button").click()
        seen = set()

        def trained() -> bool:
            seen.update(t for t in ("while TensorFlow loads", "Loading TensorFlow")
                        if page.get_by_text(t).count())
            return step_count(page) > start + 20
        wait_for(trained, timeout_s=60)
        assert not seen, f"the page waited for TensorFlow's import: {seen}"
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()
