"""ui.warmup: TensorFlow is imported once, in a background thread, and its status is told."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_warmup_imports_keras_in_the_background_once():
    """start() returns at once; the thread imports keras; a second start() starts nothing."""
    code = """
import sys, threading, time
sys.path.insert(0, ".")
from ui import warmup
t0 = time.perf_counter(); warmup.start(); returned = time.perf_counter() - t0
first = warmup.status()
warmup.start()
n_threads = sum(t.name == "genlab-tf-warmup" for t in threading.enumerate())
print("RETURNED_FAST", returned < 0.5)
print("LOADING", first.startswith("Loading TensorFlow"))
print("ONE_THREAD", n_threads <= 1)
print("READY", warmup.wait(120), "keras" in sys.modules)
print("STATUS", warmup.status())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=180).stdout
    assert "RETURNED_FAST True" in out and "LOADING True" in out and "ONE_THREAD True" in out
    assert "READY True True" in out and "TensorFlow ready (loaded in" in out
