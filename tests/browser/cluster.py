"""Run `deploy/local.sh N` (N replicas behind nginx on loopback) for tests and benchmarks.

A :class:`LocalCluster` has the ``url`` a :class:`server.Server` has, so ``open_page`` works on
it, plus what the tests look at: each replica's port and pid, nginx's access log (which
replica served each browser's route cookie), and a way to kill one replica.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_SH = ROOT / "deploy" / "local.sh"
ROUTE_COOKIE = "genlab_route"
LOG_LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) '
                      r"route=(?P<route>\S+) upstream=(?P<upstream>.*)$")


def _free_run(n: int) -> int:
    """A port P with P..P+n all free on 127.0.0.1."""
    for _ in range(200):
        base = random.randint(20_000, 60_000)
        try:
            for port in range(base, base + n + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no run of free ports")


class LocalCluster:
    """``deploy/local.sh n`` in a subprocess, healthy through nginx when constructed."""

    def __init__(self, n: int, env: dict | None = None, timeout: float = 180.0):
        self.n = n
        self.port = _free_run(n)
        self.url = f"http://127.0.0.1:{self.port}"
        self._state = Path(os.environ.get("TMPDIR", "/tmp")) / f"genlab-cluster-{self.port}"
        run_env = {**os.environ, "GENLAB_OFFLINE": "1", "GENLAB_LOCAL_STATE": str(self._state),
                   **(env or {})}
        self.proc = subprocess.Popen(["bash", str(LOCAL_SH), str(n), "--port", str(self.port)],
                                     env=run_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._state.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.proc.stdout.read().decode()[-3000:] if self.proc.poll() is not None \
                    else "(still starting)"
                self.stop()
                raise RuntimeError(f"deploy/local.sh {n} did not start: {out}")
            time.sleep(0.2)
        lines = [ln.split() for ln in self._state.read_text().splitlines()]
        self.tmp = Path(next(ln[1] for ln in lines if ln[0] == "tmp"))
        self.replicas = {f"127.0.0.1:{ln[1]}": int(ln[2]) for ln in lines if ln[0] != "tmp"}
        self._wait_healthy(deadline)

    def _wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("nginx did not answer in time")

    # -- what the tests look at

    def access_log(self) -> list[dict]:
        """nginx's access log: method, path, status, route (cookie) and upstream per request."""
        path = self.tmp / "access.log"
        if not path.exists():
            return []
        return [m.groupdict() for m in map(LOG_LINE.search, path.read_text().splitlines()) if m]

    def replicas_of(self, route: str, paths: tuple = ("/_stcore/stream", "/media/",
                                                      "/_stcore/upload_file")) -> list[str]:
        """The replicas that answered this route's session requests (websocket, media,
        uploads), in order; a failed-over request lists both ('a, b')."""
        return [e["upstream"] for e in self.access_log()
                if e["route"] == route and e["path"].startswith(paths)]

    def alive(self) -> list[str]:
        return [addr for addr, pid in self.replicas.items() if _running(pid)]

    def kill(self, address: str) -> None:
        """SIGKILL one replica (a crash: no goodbye to its browsers)."""
        os.kill(self.replicas[address], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _running(self.replicas[address]) and time.monotonic() < deadline:
            time.sleep(0.05)

    def rss_mib(self, address: str) -> float:
        """Resident memory of one replica (Linux /proc)."""
        for line in Path(f"/proc/{self.replicas[address]}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self, address: str) -> float:
        fields = Path(f"/proc/{self.replicas[address]}/stat").read_text().rsplit(")", 1)[1]
        user, system = fields.split()[11:13]
        return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # local.sh stops nginx and its replicas
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._state.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def route_of(context) -> str | None:
    """The route cookie nginx gave this browser context."""
    return next((c["value"] for c in context.cookies() if c["name"] == ROUTE_COOKIE), None)
