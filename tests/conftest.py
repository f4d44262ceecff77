"""Shared test setup: offline, a private cache dir, and the repository root on sys.path."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Tests never download (a user's online machine would otherwise fetch full MNIST) and never
# read a real Keras cache: "auto" resolves to the embedded sample, the same everywhere.
os.environ["GENLAB_OFFLINE"] = "1"
os.environ.setdefault("KERAS_HOME", str(ROOT / ".pytest_cache" / "no-keras-home"))
os.environ.pop("GENLAB_MNIST", None)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One BLAS thread: the browser tests' server and pytest share 2 cores, and threaded OpenBLAS
# spin-waits on a busy machine (a covariance fit went from 0.6 s to 11 s under load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
