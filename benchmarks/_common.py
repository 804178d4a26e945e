"""Shared helpers for the benchmark scripts: timing, tables, results files."""
from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def write_results(name: str, data: dict, quiet: bool = False) -> Path:
    import torch

    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"machine": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, default=str))
    if not quiet:
        print(f"\nwrote {path}")
    return path
