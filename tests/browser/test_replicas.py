"""deploy/local.sh in Chromium: two replicas behind nginx, each browser pinned to one by nginx's
route cookie (its websocket, media files and uploads), and a page that survives its replica."""

import re
import time

import numpy as np
import pytest
from cluster import LocalCluster, route_of
from PIL import Image
from playwright.sync_api import expect
from server import open_page, wait_idle

VAE = "pages/3_VAE_Latent_Space.py"
CLASS_CONDITIONAL = "pages/2_Class_Conditional_Sampling.py"
# Streamlit's frontend first looks for its server under the page's path (404 on one server too)
PROBE = re.compile(r"/[A-Za-z_]+/_stcore/(health|host-config)$")
RECONNECTED = "Reconnected to another server"  # ui.reconnect's notice


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster(2)
    yield c
    c.stop()


def watch(page) -> list:
    """Every response the page gets: (status, url, replica header)."""
    seen = []
    page.on("response", lambda r: seen.append(
        (r.status, r.url, r.headers.get("x-genlab-replica", ""))))
    return seen


def upload_digit(page, tmp_path) -> None:
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[30:250, 125:155] = 0  # a '1'
    path = tmp_path / "one.png"
    Image.fromarray(canvas).save(path)
    page.get_by_role("tab", name="Your digit").click()
    main = page.locator("[data-testid='stMain']")
    main.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    wait_idle(page)
    expect(main.get_by_text("As MNIST (top), reconstructed")).to_be_visible(timeout=60_000)


def test_each_browser_keeps_one_replica_for_its_session_media_and_uploads(
        cluster, browser, tmp_path):
    """Browsers get a route cookie on their first response; each one's websocket and upload
    reach one replica (no 404), its pictures arrive inline and show, and new browsers land on
    both replicas."""
    used = set()
    for i in range(8):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        seen = watch(page)
        open_page(page, cluster, VAE)
        route = route_of(context)
        assert route, "nginx set no route cookie"
        upload_digit(page, tmp_path)
        page.get_by_role("tab", name="Explore").click()
        wait_idle(page)
        replicas = set(cluster.replicas_of(route))
        assert len(replicas) == 1, replicas  # websocket, media and the upload: one replica
        assert any(e["path"].startswith("/_stcore/upload_file") for e in cluster.access_log()
                   if e["route"] == route)
        media = [s for s in seen if "/media/" in s[1]]  # downloads, if any were fetched
        assert all(status == 200 for status, _, _ in media), media
        assert {replica for _, _, replica in media} <= replicas
        # the pictures travel inside the session's own messages (ui.inline_image): shown,
        # with no request that could miss its replica or come after the file was dropped
        shown = page.locator("[data-testid='stMain'] [data-testid='stImage'] img").evaluate_all(
            "imgs => imgs.map(i => [i.src.slice(0, 11), i.complete && i.naturalWidth > 0])")
        assert shown and all(s == ["data:image/", True] for s in shown), shown
        failed = [s for s in seen if s[0] >= 400 and not PROBE.search(s[1])]
        assert not failed, failed
        assert page.locator("[data-testid='stException']").count() == 0
        used |= replicas
        context.close()
        if i >= 3 and len(used) == 2:
            break
    assert used == set(cluster.replicas)  # spread: 8 random routes on one replica: p = 1/128


def test_a_page_whose_replica_dies_reconnects_to_the_other_and_works(browser):
    """Kill the replica holding a page: the page reconnects through nginx to the live one,
    runs again there saying so (ui.reconnect's notice, no traceback), and a click works; a
    page on the live replica is unaffected and says nothing."""
    cluster = LocalCluster(2)
    try:
        pages, sockets = {}, {}
        for _ in range(12):  # until one browser on each replica
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            opened = sockets.setdefault(id(page), [])
            page.on("websocket", lambda ws, opened=opened: opened.append(ws))
            open_page(page, cluster, CLASS_CONDITIONAL)
            (replica,) = set(cluster.replicas_of(route_of(context)))
            if replica in pages:
                context.close()
                continue
            pages[replica] = (context, page)
            if len(pages) == 2:
                break
        assert len(pages) == 2
        doomed, survivor = sorted(pages)
        cluster.kill(doomed)
        assert cluster.alive() == [survivor]
        context, page = pages[doomed]  # Streamlit's frontend reconnects (through nginx)
        deadline = time.monotonic() + 60
        while len(sockets[id(page)]) < 2:
            assert time.monotonic() < deadline, "the page did not reconnect"
            page.wait_for_timeout(200)
        for replica in (doomed, survivor):
            context, page = pages[replica]
            # The reconnected page is a new session on the survivor, which knows none of its
            # widgets yet: its first click only re-runs the page there (Streamlit 1.67 does
            # not re-run by itself on reconnecting); clicks work as usual from then on.
            clicks = 2 if replica == doomed else 1
            before = page.locator("[data-testid='stImage'] img").nth(1).get_attribute("src")
            for _ in range(clicks):
                page.get_by_role("button", name="Resample").click()
                wait_idle(page, 90_000)
            page.wait_for_function(
                "src => document.querySelectorAll(\"[data-testid='stImage'] img\")[1]?.src "
                "!== src", arg=before, timeout=90_000)
            assert page.locator("[data-testid='stException']").count() == 0
            assert cluster.replicas_of(route_of(context))[-1].endswith(survivor)
            notice = page.locator("[data-testid='stAlert']").filter(has_text=RECONNECTED)
            if replica == doomed:
                expect(notice).to_be_visible()
                expect(notice).to_contain_text("click again")
            else:
                assert notice.count() == 0
    finally:
        cluster.stop()


def test_a_class_opening_the_home_page_together_sees_no_error(cluster, browser):
    """Eight browsers open the home page at the same moment (the scripts run concurrently in
    each replica): none shows an error (ast.parse raced in Python 3.11.7 before ui's lock)."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(8)]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.goto(cluster.url + "/", wait_until="commit")
        for page in pages:
            wait_idle(page)
            expect(page.get_by_text("Gaussian Explorer").first).to_be_visible()
            assert page.locator("[data-testid='stException']").count() == 0
    finally:
        for c in contexts:
            c.close()
