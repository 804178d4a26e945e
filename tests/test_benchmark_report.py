"""The measured tables live in benchmarks/README.md, generated from the results: never stale."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_page_is_generated_from_the_stored_results():
    done = subprocess.run(
        [sys.executable, "benchmarks/report.py", "--check"], cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, "benchmarks/README.md is stale: run python benchmarks/report.py"
