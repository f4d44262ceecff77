"""`pip install .` installs genlib, the app and the `genlab` command, usable from anywhere."""

import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("setuptools")  # the build backend (--no-build-isolation: no download)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("genlab-*.whl"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv with the wheel installed; its dependencies are this environment's (a .pth
    file), so nothing is downloaded."""
    env = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # this environment's pip (seen through the .pth), run by the new venv's interpreter
    subprocess.run([env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return env


def test_wheel_holds_the_app_the_weights_and_the_command(wheel):
    """The wheel has genlib with every shipped weight file, app.py, every page, every ui module,
    the Streamlit config, and the `genlab` entry point."""
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for p in (ROOT / "genlib" / "weights").iterdir() if p.suffix in (".npz", ".json")]
    assert len(shipped) >= 10
    assert {f"genlib/weights/{p.name}" for p in shipped} <= names
    assert {f"genlab_app/pages/{p.name}" for p in (ROOT / "pages").glob("*.py")} <= names
    assert {f"genlab_app/ui/{p.name}" for p in (ROOT / "ui").glob("*.py")} <= names
    assert {"genlab_app/app.py", "genlab_app/.streamlit/config.toml", "genlib/cli.py"} <= names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt")))
    assert "genlab = genlib.cli:main" in entry.decode()
    assert not any(n.startswith(("tests/", "benchmarks/", ".venv")) for n in names)


def test_installed_genlab_runs_the_app_from_another_folder(venv, tmp_path):
    """From a folder outside the clone: `genlab --help` works, `genlab run` serves the
    installed app (health endpoint ok, pages found, the project's config read)."""
    genlab = venv / "bin" / "genlab"
    r = subprocess.run([genlab, "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "scoreboard" in r.stdout
    where = subprocess.run([venv / "bin" / "python", "-c",
                            "import genlib, genlib.cli; print(genlib.__file__); "
                            "print(genlib.cli.app_dir())"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and "genlab_app" in where
    config = ("import pathlib, genlib.cli, streamlit.config as c; "
              "c._main_script_path = str(genlib.cli.app_dir() / 'app.py'); "
              "c.get_config_options(force_reparse=True); "
              "print(c.get_option('client.showErrorDetails'), "
              "c.get_option('server.maxUploadSize'))")
    shown = subprocess.run([venv / "bin" / "python", "-c", config], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["none", "100"]  # the project's config.toml, read beside app.py
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([genlab, "run", "--port", str(port), "--address", "127.0.0.1",
                             "--server.headless", "true"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = b""
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as h:
                    body = h.read()
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.2)
        assert body == b"ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/GAN_Live_Training") as h:
            assert h.status == 200
    finally:
        proc.terminate()
        proc.wait(10)
