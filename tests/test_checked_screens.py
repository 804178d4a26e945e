"""benchmarks/checked_screens.py judges a screen's arm as the default would keep it: through the
baseline check, seed by seed, against the run without heads of the same seed."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import checked_screens  # noqa: E402


def _run(arm: str, seed: int, acc: float, loss: float) -> dict:
    row = {"loss_main": loss, "val_acc_main": acc / 100}
    return {"regime": "r", "arm": arm, "seed": seed, "acc": acc, "curve": [row]}


def _checked(seed: int, heads: tuple, base: tuple) -> dict:
    """An ``auto`` result that ran the check: (score, loss) of its two runs."""
    check = dict(
        score="val_acc_main",
        score_heads=heads[0] / 100,
        loss_heads=heads[1],
        score_baseline=base[0] / 100,
        loss_baseline=base[1],
        kept="heads",
    )
    return {**_run("auto", seed, heads[0], heads[1]), "check": check}


def test_the_check_keeps_the_run_without_heads_where_the_heads_fit_worse():
    base = checked_screens.baselines(
        [_run("baseline", 0, 80, 0.5), _run("baseline", 1, 60, 1.0)], "r"
    )
    # seed 0: the heads score lower and fit worse; seed 1: better on both counts
    row = checked_screens.judged([_run("x", 0, 70, 0.7), _run("x", 1, 90, 0.4)], base)
    assert row["per_seed_alone"] == [-10.0, 30.0]
    assert row["per_seed_checked"] == [0.0, 30.0]
    assert row["better"] == 15.0 and row["seeds"] == [0, 1]


def test_a_checked_result_gives_its_baseline_and_its_heads_run_whichever_it_kept():
    result = _checked(3, heads=(50, 1.2), base=(70, 0.8))
    assert checked_screens.baselines([result], "r")[3][0] == 70
    assert checked_screens.run_with_heads(result)[0] == 50
    row = checked_screens.judged([result], checked_screens.baselines([result], "r"))
    assert row["per_seed_checked"] == [0.0] and row["per_seed_alone"] == [-20.0]


def test_an_arm_is_paired_with_the_default_on_the_seeds_both_ran():
    default = {"file": "f", "arm": "auto", "seeds": [0, 1, 2], "per_seed_checked": [1.0, 2.0, 3.0]}
    other = {
        "file": "s",
        "arm": "x",
        "against": "f",
        "seeds": [1, 2],
        "per_seed_checked": [4.0, 3.0],
    }
    paired = checked_screens.against_default(other, [default, other])
    assert paired["vs_default"] == 1.0  # (4 − 2 + 3 − 3) / 2
