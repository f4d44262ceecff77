"""Start GenLab with `streamlit run` on a free loopback port and drive Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GENLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `streamlit run app.py` subprocess on 127.0.0.1, offline, with its own cache dir."""

    def __init__(self, env: dict | None = None, as_readme: bool = False, log=None,
                 preload: bool = False):
        """``as_readme``: run as the README's command does (the project's config alone, file
        watcher on); ``log``: a file that gets the server's stdout and stderr (else its
        stderr goes to a temporary file, read if it exits: an unread pipe would block a
        chatty server once full); ``preload``: `genlab run --preload` instead."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        run_env = {**os.environ, "GENLAB_OFFLINE": "1", **(env or {})}
        if preload:
            args = [sys.executable, "-m", "genlib.cli", "run", "--preload", "--port",
                    str(self.port), "--address", "127.0.0.1"]
        else:
            args = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                    str(self.port), "--server.address", "127.0.0.1"]
        if not as_readme:
            args += ["--server.headless", "true", "--browser.gatherUsageStats", "false",
                     "--server.fileWatcherType", "none"]
        self._stderr = None if log else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=run_env, stdout=log or subprocess.DEVNULL,
            stderr=log or self._stderr)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = "(its log has the output)"
                if self._stderr is not None:
                    self._stderr.seek(0)
                    err = self._stderr.read()[-2000:].decode(errors="replace")
                raise RuntimeError(f"streamlit exited: {err}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("streamlit did not become healthy in time")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self._stderr is not None:
            self._stderr.close()


def page_url(server: Server, page: str) -> str:
    """URL of ``app.py`` or ``pages/N_Title.py`` (Streamlit drops the number prefix)."""
    stem = Path(page).stem
    if stem == "app":
        return server.url + "/"
    name = stem.split("_", 1)[1] if stem[0].isdigit() and "_" in stem else stem
    return f"{server.url}/{name}"


def open_page(page, server: Server, path: str, timeout_ms: int = 120_000) -> float:
    """Navigate to a page and wait until its script has finished; return seconds taken."""
    t0 = time.perf_counter()
    page.goto(page_url(server, path))
    wait_idle(page, timeout_ms)
    return time.perf_counter() - t0


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the app's script run is over (after a click or a page load), with Playwright's
    auto-waiting: first for a rerun that a click may just have started, then for it to end and
    for every lazily loaded element to replace its grey skeleton."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    try:  # a rerun triggered just now flips the state to "running" within a few frames
        page.locator(RUNNING).wait_for(state="attached", timeout=300)
    except PlaywrightTimeout:
        pass  # it has finished already, or nothing was triggered
    expect(page.locator(DONE)).to_be_attached(timeout=timeout_ms)
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0, timeout=timeout_ms)


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
