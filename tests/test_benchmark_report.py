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


def _report():
    sys.path.insert(0, str(ROOT))
    from benchmarks import report

    return report


def test_machines_with_the_same_digits_are_one_class_and_others_are_not():
    report = _report()
    same = {0: 64.7, 1: 94.8, 2: 93.4}
    found = {
        ("plain-mnist", 10): {"a": same, "b": dict(same), "c": {0: 10.0, 1: 94.5, 2: 95.9}},
        ("plain", 20): {"c": {0: 61.5, 1: 78.2, 2: 67.6}, "d": {0: 61.5, 1: 78.2, 2: 67.6}},
    }
    classes = report._same_numerics(found)
    assert classes["a"] == classes["b"] and classes["c"] == classes["d"]
    assert classes["a"] != classes["c"]


def test_the_bars_harm_rule_counts_trained_seeds_only():
    sys.path.insert(0, str(ROOT))
    from benchmarks.paired import harmed_seeds

    baseline = {0: 10.0, 1: 94.0, 2: 95.0, 3: 60.0}
    arm = {0: 5.0, 1: 91.9, 2: 93.0, 3: 30.0}
    assert harmed_seeds(arm, baseline) == [1, 3]  # seed 0 never trained; seed 2 is on the line


def test_results_pair_only_with_the_same_code_and_cpu():
    sys.path.insert(0, str(ROOT))
    from benchmarks._common import pairable

    version = {"code": "abc", "cpu": "x"}
    rows = [
        {"code": "abc"},
        {"code": "abc", "cpu": "x"},
        {"code": "abc", "cpu": "y"},
        {"code": "z"},
    ]
    assert pairable(rows, version) == rows[:2]  # a row that names no CPU predates the stamp


def test_an_arm_with_trainer_options_pairs_with_the_baseline_trained_like_it():
    sys.path.insert(0, str(ROOT))
    from benchmarks.paired import baseline_of, summarize

    assert baseline_of("dsn:alpha=0.3:clip_grad=1") == "baseline:clip_grad=1"
    assert baseline_of("auto@features.3") == "baseline"
    rows = [
        dict(regime="r", arm=arm, seed=seed, acc=acc, code="c")
        for arm, accs in (
            ("baseline", (10.0, 90.0)),
            ("baseline:clip_grad=1", (93.0, 94.0)),
            ("auto:clip_grad=1", (95.0, 90.0)),
            ("auto", (80.0, 91.0)),
        )
        for seed, acc in enumerate(accs)
    ]
    by_arm = {s["arm"]: s for s in summarize(rows)[0]}
    assert by_arm["auto:clip_grad=1"]["per_seed"] == [2.0, -4.0]
    assert by_arm["auto:clip_grad=1"]["harmed"] == [1]
    assert by_arm["auto"]["per_seed"] == [70.0, 1.0] and by_arm["auto"]["harmed"] == []


def test_baselines_trained_with_other_trainer_settings_are_not_one_protocol():
    """A result records the trainer settings it ran with; older results, which do not, ran with
    the former defaults (no clipping) and their arm's options."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.paired import trained_with

    assert trained_with({"arm": "baseline"})["clip_grad"] == 0.0
    assert trained_with({"arm": "baseline:clip_grad=1"})["clip_grad"] == 1.0
    recorded = {"arm": "baseline", "train": {"clip_grad": 1.0, "lr": 0.001}}
    assert trained_with(recorded) == trained_with({"arm": "baseline:clip_grad=1"})
