"""Shared helpers for the benchmark scripts: timing, tables, results files."""

from __future__ import annotations

import hashlib
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


ROOT = Path(__file__).resolve().parents[1]


def code_version() -> dict:
    """What code a result came from: a digest of the trained code's sources (``tapfinder/``,
    ``deepsup/``), which pairs results only when it matches, and the git commit, for people."""
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("tapfinder/**/*.py"), *ROOT.glob("deepsup/**/*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"code": digest.hexdigest()[:12], "commit": commit or "unknown"}


def cpu() -> str:
    """The processor a run used: its model and the vector instructions that torch's kernels
    dispatch on. They decide the low bits of every float sum, and so, on a chaotic (norm-free) net,
    which way a seed goes: the same code and seed give other digits on another CPU."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in text.splitlines():  # the first processor's fields
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    isa = " ".join(f for f in ("amx_tile", "avx512_bf16", "avx512f", "avx2") if f in flags)
    name, family, model = (fields.get(k, "?") for k in ("model name", "cpu family", "model"))
    return f"{name} (family {family} model {model}; {isa})"


def run_version() -> dict:
    """What a trained result came from: :func:`code_version` and the :func:`cpu`."""
    return {**code_version(), "cpu": cpu()}


def pairable(rows: list[dict], version: dict) -> list[dict]:
    """The earlier results that pair with a run of ``version``: made by the same code and, where a
    result names its CPU, on the same CPU. The others are said and left out (run again)."""
    kept = [
        r
        for r in rows
        if r.get("code") == version["code"] and r.get("cpu", version["cpu"]) == version["cpu"]
    ]
    if len(kept) < len(rows):
        print(
            f"  {len(rows) - len(kept)} earlier results come from other code than "
            f"{version['code']} or another CPU, and are run again"
        )
    return kept


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# two-sided 95 % Student t quantiles by degrees of freedom (1-30); beyond 30 the normal 1.96
_T95 = (
    12.71,
    4.30,
    3.18,
    2.78,
    2.57,
    2.45,
    2.36,
    2.31,
    2.26,
    2.23,
    2.20,
    2.18,
    2.16,
    2.14,
    2.13,
    2.12,
    2.11,
    2.10,
    2.09,
    2.09,
    2.08,
    2.07,
    2.07,
    2.06,
    2.06,
    2.06,
    2.05,
    2.05,
    2.05,
    2.04,
)


def ci95(values: list[float]) -> float:
    """Half-width of the 95 % confidence interval of the mean of paired differences (t
    distribution).

    >>> round(ci95([1.0, 2.0, 3.0]), 2)
    2.48
    """
    if len(values) < 2:
        return float("inf")
    t = _T95[len(values) - 2] if len(values) - 1 <= len(_T95) else 1.96
    return t * statistics.stdev(values) / len(values) ** 0.5


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def write_results(name: str, data: dict, quiet: bool = False) -> Path:
    import torch

    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": platform.platform(),
        "cpu": cpu(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, default=str))
    if not quiet:
        print(f"\nwrote {path}")
    return path
