"""Run GenLab's benchmarks and print one table: python -m benchmarks.run [topic ...]

Each ``benchmarks/bench_<topic>.py`` defines ``rows()`` yielding dicts with keys
benchmark, value, unit, target. Figures are measured here, never asserted in tests.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def topics() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def fmt(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 100_000:
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def main(argv: list[str]) -> int:
    chosen = argv or topics()
    unknown = set(chosen) - set(topics())
    if unknown:
        print(f"unknown topic(s) {sorted(unknown)}; choose from {topics()}", file=sys.stderr)
        return 2
    header = f"{'topic':<18} {'benchmark':<62} {'value':>12} {'unit':<8} target"
    print(header)
    print("-" * len(header))
    for topic in chosen:
        t0 = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{topic}")
        for row in module.rows():
            print(f"{topic:<18} {row['benchmark']:<62} {fmt(row['value']):>12} "
                  f"{row['unit']:<8} {row.get('target', '')}", flush=True)
        print(f"{topic:<18} {'(benchmark wall time)':<62} "
              f"{fmt(time.perf_counter() - t0):>12} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
