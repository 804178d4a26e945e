"""benchmarks/split_half.py scores a choice on validation samples the choice did not read: between
two runs equally good on the whole set, reading one half cannot win anything on the other."""

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import split_half  # noqa: E402


def _right(ones: int, size: int, seed: int) -> str:
    marks = ["1"] * ones + ["0"] * (size - ones)
    random.Random(seed).shuffle(marks)
    return "".join(marks)


def test_a_choice_between_equal_runs_wins_nothing_on_the_unseen_half():
    check = dict(
        loss_heads=0.5,
        loss_baseline=0.5,
        heads_right=_right(150, 300, 1),
        baseline_right=_right(150, 300, 2),
    )
    unseen, kept_heads = split_half.seed_deltas(check, split_half.by_validation, 100, 0)
    assert unseen < 0 and 0 < kept_heads < 1  # reading one half picks the noise, which reverses


def test_runs_apart_on_every_sample_keep_their_order_under_every_rule():
    check = dict(loss_heads=0.1, loss_baseline=0.2, heads_right="1" * 40, baseline_right="0" * 40)
    for rule in split_half.RULES.values():
        assert split_half.seed_deltas(check, rule, 10, 0) == (100.0, 1.0)
    worse = dict(check, loss_heads=0.5, heads_right="0" * 40, baseline_right="1" * 40)
    for rule in split_half.RULES.values():
        assert split_half.seed_deltas(worse, rule, 10, 0) == (0.0, 0.0)


def test_the_default_rule_keeps_a_retry_better_on_every_sample_and_the_two_run_rule_cannot():
    check = dict(
        loss_heads=0.5,
        loss_baseline=0.2,
        loss_deepest=0.1,
        heads_right="0" * 40,
        baseline_right="0" * 40,
        deepest_right="1" * 40,
    )
    assert split_half.seed_deltas(check, split_half.by_choose, 10, 0) == (100.0, 1.0)
    assert split_half.seed_deltas(check, split_half.by_two_runs, 10, 0) == (0.0, 0.0)
