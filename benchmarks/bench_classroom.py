"""A class at once: 30 Chromium sessions on 3 replicas behind nginx (deploy/local.sh) against
the same 30 on one Streamlit process.

Run: .venv/bin/python -m benchmarks.run classroom      (~15-25 min on 2 cores;
     GENLAB_BENCH_ONE_PROCESS=0 skips the one-process half, GENLAB_BENCH_SESSIONS=N)

Each session (a browser context of its own, all started together, as a lecture hall opening the
presenter's link) opens the home page, then every page through the sidebar, moves the first
slider on each page that has one, and records how long each page took to finish drawing. Then,
on the replicas only: every session presses Play on the GAN page with the cap at
``CAP`` trainers per replica; the busiest replica is killed (SIGKILL) and every session goes
to the class-conditional page and presses Resample until the digits change, as a user would:
a click that had no effect (Streamlit's frontend drops clicks made while it reconnects, and on
a new replica the first click only re-runs the page) is made again once the page shows it is
connected and idle. Measured: sessions working again, the time from the kill, whether the
killed replica's sessions showed ui.reconnect's notice (and the others did not), and whether
nginx kept each moved session on one live replica. Then the sessions close and the replicas'
memory and CPU are read again.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests" / "browser"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

N_SESSIONS = int(os.environ.get("GENLAB_BENCH_SESSIONS", "30"))
N_REPLICAS = 3
CAP = 2  # GAN trainers per replica in this benchmark (GENLAB_MAX_TRAINERS)
TIMEOUT_MS = 600_000
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
PROBE = re.compile(r"/[A-Za-z_]+/_stcore/(health|host-config)$")  # Streamlit's base-path probe
ROUTE = "genlab_route"


def _row(name, value, unit, target=""):
    return {"benchmark": name, "value": float(value), "unit": unit, "target": target}


def _pages() -> list[tuple[str, str]]:
    """(sidebar href suffix, page file) for every page after the home page."""
    import ui

    return [(p.stem.split("_", 1)[1], f"pages/{p.name}") for p in ui.page_files()]


async def _wait_idle(page, timeout_ms: int = TIMEOUT_MS) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import expect

    try:
        await page.locator(RUNNING).wait_for(state="attached", timeout=300)
    except PlaywrightTimeout:
        pass
    await expect(page.locator(DONE)).to_be_attached(timeout=timeout_ms)
    await expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=timeout_ms)


async def _broken_images(page) -> int:
    """Images in the page that failed to load (a media file its replica did not have)."""
    return await page.evaluate(
        "() => [...document.querySelectorAll(\"[data-testid='stMain'] img\")]"
        ".filter(i => i.complete && i.naturalWidth === 0).length")


class Session:
    """One student: a browser context, its page, what it saw."""

    def __init__(self, context, page):
        self.context, self.page = context, page
        self.open_s: list[float] = []
        self.errors: list[str] = []
        self.errors_soft: list[str] = []  # where images failed (reported, counted separately)
        self.failed: list[tuple[int, str]] = []  # HTTP >= 400 (Streamlit's probes excepted)
        self.media_404 = 0
        self.broken_images = 0
        self.retries: list[str] = []  # after the kill: attempts that did not work, and why
        page.on("response", self._response)

    def _response(self, r) -> None:
        if r.status >= 400 and not PROBE.search(r.url):
            self.failed.append((r.status, r.url))
            if "/media/" in r.url:
                self.media_404 += 1

    async def route(self) -> str | None:
        return next((c["value"] for c in await self.context.cookies() if c["name"] == ROUTE),
                    None)

    async def check(self, where: str) -> None:
        n = await self.page.locator("[data-testid='stException']").count()
        if n:
            self.errors.append(f"{where}: {n} exception(s)")
        broken = await _broken_images(self.page)
        if broken:
            self.errors_soft.append(f"{where}: {broken} broken image(s)")
        self.broken_images += broken

    async def move_slider(self, where: str) -> bool:
        slider = self.page.locator("[data-testid='stMain'] [role='slider']").first
        if not await slider.count():
            return False
        await slider.focus()
        await slider.press("ArrowRight")
        await _wait_idle(self.page)
        await self.check(f"{where} after a slider move")
        return True

    async def tour(self, url: str, pages: list[tuple[str, str]]) -> None:
        """Home by its address, then every page by the sidebar, one slider move on each."""
        try:
            t0 = time.perf_counter()
            await self.page.goto(url + "/", wait_until="commit")
            await _wait_idle(self.page)
            self.open_s.append(time.perf_counter() - t0)
            await self.check("home")
            for name, _ in pages:
                t0 = time.perf_counter()
                await self.page.locator(f"[data-testid='stSidebar'] a[href='{name}']").click()
                await self.page.wait_for_url(re.compile(f"/{name}"), timeout=TIMEOUT_MS)
                await _wait_idle(self.page)
                self.open_s.append(time.perf_counter() - t0)
                await self.check(name)
                await self.move_slider(name)
        except Exception as e:  # noqa: BLE001 -- a timeout or a crash is a figure here
            self.errors.append(f"tour: {type(e).__name__}: {str(e)[:200]}")


async def _sessions(browser, n: int) -> list[Session]:
    out = []
    for _ in range(n):
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)  # 30 pages loading at once on 2 cores
        context.set_default_navigation_timeout(TIMEOUT_MS)
        out.append(Session(context, await context.new_page()))
    return out


def _launch_args():
    from server import CHROMIUM, CHROMIUM_ARGS

    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    user, system = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
    return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")


def _cpu_percent(pids: list[int], seconds: float = 5.0) -> float:
    before = sum(_cpu_s(p) for p in pids)
    time.sleep(seconds)
    return 100 * (sum(_cpu_s(p) for p in pids) - before) / seconds


# ----------------------------------------------------------------------------- one process


async def single_process(n: int) -> dict:
    from playwright.async_api import async_playwright
    from server import Server

    log = open(ROOT / "test-output" / "classroom-one-process.log", "w")  # noqa: SIM115
    server = Server(log=log)  # a log file: a full stderr pipe would stall the server
    try:
        idle = _rss_mib(server.proc.pid)
        async with async_playwright() as p:
            browser = await p.chromium.launch(**_launch_args())
            sessions = await _sessions(browser, n)
            t0 = time.perf_counter()
            await asyncio.gather(*(s.tour(server.url, _pages()) for s in sessions))
            wall = time.perf_counter() - t0
            rss = _rss_mib(server.proc.pid)
            await browser.close()
        return {"sessions": sessions, "wall": wall, "idle": idle, "rss": rss}
    finally:
        server.stop()
        log.close()


# ----------------------------------------------------------------------------- replicas


async def _press_play(session: Session) -> str:
    """On the GAN page, press Play: "trainer" if this session got one, "capped" if refused."""
    page = session.page
    try:
        await page.locator("[data-testid='stSidebar'] a[href='GAN_Live_Training']").click()
        await page.wait_for_url(re.compile("/GAN_Live_Training"), timeout=TIMEOUT_MS)
        await _wait_idle(page)
        await page.locator(".st-key-gan_play button").click()
        capped = page.locator("[data-testid='stAlert']").filter(has_text="GENLAB_MAX_TRAINERS")
        pause = page.locator(".st-key-gan_pause button")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if await capped.count():
                await session.check("GAN page, capped")
                return "capped"
            # a Play that passed the callback's check but lost the race for the last place
            # draws Pause and then the cap's warning in the same run: decide once it is done
            if await pause.count() and await page.locator(DONE).count():
                return "capped" if await capped.count() else "trainer"
            await asyncio.sleep(0.5)
        return "neither"
    except Exception as e:  # noqa: BLE001
        session.errors.append(f"play: {type(e).__name__}: {str(e)[:200]}")
        return "error"


RECONNECTED = "Reconnected to another server"  # ui.reconnect's notice
WATCH_NOTICE = """() => {  // remember whether the reconnect notice was ever drawn in this page
  window.__genlabNotice = false;
  new MutationObserver(() => {
    if (!window.__genlabNotice && [...document.querySelectorAll("[data-testid='stAlert']")]
        .some(a => a.textContent.includes(%r))) window.__genlabNotice = true;
  }).observe(document.body, {childList: true, subtree: true});
}""" % RECONNECTED
RECOVER_S = 600  # a session not working again this long after the kill counts as lost
ATTEMPT_S = 120.0  # one navigation or one Resample waited for at most this long
DROPPED_S = 5.0  # connected, idle and still no change this long after a click: it was dropped
IDLE = ("[data-testid='stApp'][data-test-connection-state='CONNECTED']"
        "[data-test-script-state='notRunning']")
IMAGES = "[data-testid='stMain'] [data-testid='stImage'] img"


async def _until(page, ok, what: str) -> None:
    """Poll ``ok()`` after a click. Streamlit's frontend drops a click made while it is
    reconnecting (or sent into the dead replica's socket), and on a new replica the first
    click only re-runs the page: raise when the page sits connected and idle ``DROPPED_S``
    without the change, so the caller clicks again, as a user would."""
    t0, idle_since = time.perf_counter(), None
    while not await ok():
        now = time.perf_counter()
        if await page.locator(IDLE).count():
            idle_since = idle_since or now
            if now - idle_since > DROPPED_S:
                raise RuntimeError(f"{what}: no effect (a dropped click)")
        else:
            idle_since = None
        if now - t0 > ATTEMPT_S:
            raise TimeoutError(f"{what}: nothing within {ATTEMPT_S:.0f} s")
        await asyncio.sleep(0.5)


async def _after_kill(session: Session, t_kill: float) -> float | None:
    """Seconds from the kill until this session works: on the class-conditional page (by the
    sidebar), a Resample changes the digits. A click without effect is made again once the
    page is connected and idle; None if the session does not work within ``RECOVER_S``."""
    from playwright.async_api import expect

    page = session.page
    title = page.get_by_role("heading", name="Class-conditional sampling")
    link = page.locator("[data-testid='stSidebar'] a[href='Class_Conditional_Sampling']")
    connected = page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    deadline = t_kill + RECOVER_S
    last = ""
    while time.perf_counter() < deadline:
        try:
            await expect(connected).to_have_count(1, timeout=ATTEMPT_S * 1000)  # as a user waits
            if not await title.count():
                await link.click(timeout=ATTEMPT_S * 1000)
                await _until(page, title.count, "the sidebar link")
                await _wait_idle(page, int(ATTEMPT_S * 1000))
            before = await page.locator(IMAGES).nth(1).get_attribute(
                "src", timeout=ATTEMPT_S * 1000)
            await page.get_by_role("button", name="Resample").click(timeout=ATTEMPT_S * 1000)

            async def changed(before=before) -> bool:
                return await page.evaluate(
                    "([sel, src]) => document.querySelectorAll(sel)[1]?.getAttribute('src') "
                    "!== src", [IMAGES, before])

            await _until(page, changed, "Resample")
            took = time.perf_counter() - t_kill
            await _wait_idle(page, int(ATTEMPT_S * 1000))
            await session.check("after the kill")
            return took
        except Exception as e:  # noqa: BLE001 -- retried until the deadline, then a figure
            last = f"{type(e).__name__}: {str(e)[:160]}"
            session.retries.append(f"{time.perf_counter() - t_kill:.0f} s: {last}")
    session.errors.append(f"after kill, not working within {RECOVER_S} s: {last}")
    return None


async def replicas(n: int) -> dict:
    from cluster import LocalCluster
    from playwright.async_api import async_playwright

    cluster = LocalCluster(N_REPLICAS, env={"GENLAB_MAX_TRAINERS": str(CAP)})
    out: dict = {}
    try:
        addrs = list(cluster.replicas)
        out["idle"] = sum(cluster.rss_mib(a) for a in addrs) / len(addrs)
        async with async_playwright() as p:
            browser = await p.chromium.launch(**_launch_args())
            sessions = await _sessions(browser, n)
            t0 = time.perf_counter()
            await asyncio.gather(*(s.tour(cluster.url, _pages()) for s in sessions))
            out["wall"] = time.perf_counter() - t0
            out["rss_sessions"] = {a: cluster.rss_mib(a) for a in addrs}
            routes = [await s.route() for s in sessions]
            before_kill = len(cluster.access_log())

            outcomes = await asyncio.gather(*(_press_play(s) for s in sessions))
            out["trainers"] = outcomes.count("trainer")
            out["capped"] = outcomes.count("capped")
            await asyncio.sleep(20)  # trainers built and training
            out["rss_cap"] = {a: cluster.rss_mib(a) for a in addrs}

            log = cluster.access_log()[:before_kill]
            homes = []
            for route in routes:
                used = {e["upstream"] for e in log if e["route"] == route
                        and e["path"].startswith(("/media/", "/_stcore/upload_file"))}
                homes.append(next(iter(used)) if len(used) == 1 else None)
            out["pinned"] = sum(h is not None for h in homes)
            out["spread"] = {a: homes.count(a) for a in addrs}

            for s in sessions:
                await s.page.evaluate(WATCH_NOTICE)
            doomed = max(addrs, key=lambda a: homes.count(a))
            cluster.kill(doomed)
            t_kill = time.perf_counter()
            took = await asyncio.gather(*(_after_kill(s, t_kill) for s in sessions))
            notice = [await s.page.evaluate("() => window.__genlabNotice") for s in sessions]
            out["doomed_n"] = homes.count(doomed)
            out["others_n"] = n - out["doomed_n"]
            for who, mine in (("doomed", True), ("others", False)):
                times = [t for t, h in zip(took, homes) if (h == doomed) == mine]
                out[f"{who}_ok"] = sum(t is not None for t in times)
                out[f"{who}_s"] = sorted(t for t in times if t is not None) or [float("nan")]
                out[f"{who}_notice"] = sum(k for k, h in zip(notice, homes)
                                           if (h == doomed) == mine)
            out["sessions"] = sessions
            for s in sessions:
                await s.context.close()  # nginx logs each websocket when it closes
            await browser.close()
        await asyncio.sleep(1)
        # after the kill, each moved session on one live replica (websocket, media, uploads);
        # a request nginx passed on from the dead replica logs "dead, live": the last counts
        after = cluster.access_log()[before_kill:]
        out["moved_pinned"] = sum(
            len({e["upstream"].split(", ")[-1] for e in after if e["route"] == route
                 and e["path"].startswith(("/_stcore/stream", "/media/",
                                           "/_stcore/upload_file"))} - {doomed}) == 1
            for route, h in zip(routes, homes) if h == doomed)
        live = [a for a in addrs if a != doomed]
        time.sleep(30)  # closed tabs' trainers are released after 20 s (ui.trainer_cap.reap)
        out["rss_closed"] = {a: cluster.rss_mib(a) for a in live}
        out["cpu_closed"] = _cpu_percent([cluster.replicas[a] for a in live])
        time.sleep(120)  # Streamlit drops a closed tab's session after 120 s (its caches stay)
        out["rss_closed_late"] = {a: cluster.rss_mib(a) for a in live}
        out["live"] = live
    finally:
        cluster.stop()
    return out


def _report(label: str, sessions: list[Session]) -> None:
    """What went wrong, on stderr (the table has the counts)."""
    for i, s in enumerate(sessions):
        for e in (s.errors + s.errors_soft + [f"HTTP {c} {u}" for c, u in s.failed]
                  + [f"retried after the kill at {r}" for r in s.retries]):
            print(f"    {label} session {i}: {e}", file=sys.stderr)


def _tour_rows(label: str, sessions: list[Session]) -> list[dict]:
    _report(label.strip(), sessions)
    times = [t for s in sessions for t in s.open_s] or [float("nan")]
    return [
        _row(f"{label}: page opens under load, p50", statistics.median(times), "s"),
        _row(f"{label}: page opens under load, p95", _percentile(times, 0.95), "s"),
        _row(f"{label}: errors (exceptions, timeouts)", sum(len(s.errors) for s in sessions),
             "count", "0"),
        _row(f"{label}: media 404s", sum(s.media_404 for s in sessions), "count", "0"),
        _row(f"{label}: images that did not load", sum(s.broken_images for s in sessions),
             "count", "0"),
    ]


def rows():
    if os.environ.get("GENLAB_BENCH_ONE_PROCESS", "1") != "0":  # 0: the replicas only
        one = asyncio.run(single_process(N_SESSIONS))
        yield _row(f"one process, {N_SESSIONS} sessions: all tours done", one["wall"], "s")
        yield from _tour_rows("  one process", one["sessions"])
        yield _row("  one process: RSS idle", one["idle"], "MiB")
        yield _row("  one process: RSS with the sessions open", one["rss"], "MiB")

    rep = asyncio.run(replicas(N_SESSIONS))
    yield _row(f"{N_REPLICAS} replicas + nginx, {N_SESSIONS} sessions: all tours done",
               rep["wall"], "s")
    yield from _tour_rows(f"  {N_REPLICAS} replicas", rep["sessions"])
    yield _row("  sessions pinned to one replica (websocket, uploads; before the kill)",
               rep["pinned"], "count", f"{N_SESSIONS}")
    for a, k in sorted(rep["spread"].items()):
        yield _row(f"  sessions on replica {a}", k, "count", "> 0")
    yield _row("  replica RSS idle (mean)", rep["idle"], "MiB")
    yield _row("  replica RSS with the sessions open: max",
               max(rep["rss_sessions"].values()), "MiB")
    yield _row(f"  GAN Play in every session, cap {CAP}/replica: trainers / refused",
               rep["trainers"], "count", f"<= {CAP * N_REPLICAS}")
    yield _row("  sessions refused a trainer (clear message)", rep["capped"], "count")
    yield _row("  replica RSS with the cap reached: max", max(rep["rss_cap"].values()), "MiB",
               "bounded")
    yield _row(f"  killed replica's sessions working again within {RECOVER_S} s",
               rep["doomed_ok"], "count", f"{rep['doomed_n']}")
    yield _row("  ... showing the 'reconnected' notice", rep["doomed_notice"], "count",
               f"{rep['doomed_n']}")
    yield _row("  ... each on one live replica after the kill (nginx log)", rep["moved_pinned"],
               "count", f"{rep['doomed_n']}")
    yield _row("  ... time from the kill to a working Resample, p50",
               statistics.median(rep["doomed_s"]), "s")
    yield _row("  ... time from the kill to a working Resample, max", max(rep["doomed_s"]), "s")
    yield _row(f"  other sessions working after the kill within {RECOVER_S} s",
               rep["others_ok"], "count", f"{rep['others_n']}")
    yield _row("  ... showing the 'reconnected' notice (unaffected)", rep["others_notice"],
               "count", "0")
    yield _row("  ... time from the kill to a working Resample, p50",
               statistics.median(rep["others_s"]), "s")
    yield _row("  live replicas' RSS 30 s after every session closed: max",
               max(rep["rss_closed"].values()), "MiB", "back near idle")
    yield _row("  live replicas' CPU 30 s after closing (sum over 5 s)", rep["cpu_closed"],
               "%", "~0")
    yield _row("  live replicas' RSS 155 s after every session closed: max",
               max(rep["rss_closed_late"].values()), "MiB", "back near idle")
