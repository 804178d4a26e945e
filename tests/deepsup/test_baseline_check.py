"""The baseline check (``deepsup.baseline_check``, ``deepsup.run.train``): a checked run also trains
exactly the run without heads, keeps the heads only where their main head fits the training set and
scores on validation no worse than without them, and exports the one it kept."""

from dataclasses import replace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepsup.baseline_check import (
    RETRY_LAG,
    TIE,
    Choice,
    choose,
    read_choice,
    retry_point,
    with_deepest,
    write_choice,
)
from deepsup.run import RunSpec, export_run, fit_plainly, kept_folder, prepare, train
from deepsup.trainer import TrainConfig
from tapfinder.errors import ConfigError

SPEC = RunSpec(
    model="tests/assets/model_1d.py",
    data="tests/assets/data_file.py",
    train=TrainConfig(epochs=2, batch_size=16),
)
losses = st.floats(0.0, 5.0, allow_nan=False)
scores = st.floats(0.0, 1.0, allow_nan=False)


@given(losses, losses, scores, scores)
def test_the_heads_are_kept_only_where_the_main_head_does_no_worse_on_either_count(lh, lb, sh, sb):
    choice = choose(
        [{"loss_main": lh, "val_acc_main": sh}], [{"loss_main": lb, "val_acc_main": sb}]
    )
    fits, scores_as_well = lh <= lb + TIE, sh >= sb
    assert choice.kept == ("heads" if fits and scores_as_well else "baseline")
    assert choice.by == ("training loss" if not fits else "validation" if sh < sb else "both")
    # so the kept run's main head never scores below the run without heads on validation
    kept_score = sh if choice.kept == "heads" else sb
    assert kept_score >= sb


def test_heads_that_fit_better_and_score_lower_are_not_kept():
    """``plain-digits`` seed 3 (``benchmarks/results/train_digits.json``): the heads' main head fits
    the training set better (0.72 against 0.79) and scores 2.2 points lower on validation."""
    choice = choose(
        [{"loss_main": 0.72, "val_acc_main": 0.7187}], [{"loss_main": 0.79, "val_acc_main": 0.7409}]
    )
    assert (choice.kept, choice.by) == ("baseline", "validation")
    assert "accuracy 71.9 % vs 74.1 %, lower" in choice.line()


def test_segmentation_is_chosen_on_its_miou():
    choice = choose([{"loss_main": 0.5, "val_miou": 0.6}], [{"loss_main": 0.505, "val_miou": 0.5}])
    assert (choice.kept, choice.by, choice.score) == ("heads", "both", "val_miou")
    assert "mIoU 60.0 vs 50.0" in choice.line()


def test_the_check_trains_exactly_the_baseline_run_and_keeps_its_choice(tmp_path):
    checked = train(prepare(SPEC), tmp_path / "checked")
    alone = train(prepare(replace(SPEC, recipe="baseline")), tmp_path / "alone")
    assert checked.choice is not None and alone.choice is None
    timeless = [{k: v for k, v in row.items() if k != "seconds"} for row in alone.history]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in checked.baseline] == (
        timeless
    )
    assert read_choice(tmp_path / "checked") == checked.choice
    stale = replace(checked.choice, kept="elsewhere")
    write_choice(tmp_path / "checked", stale)

    def interrupted(run, folder, stage):  # the second run stops before it ends
        if stage == "baseline":
            raise KeyboardInterrupt
        return checked.history

    with pytest.raises(KeyboardInterrupt):
        train(prepare(SPEC), tmp_path / "checked", interrupted)
    assert read_choice(tmp_path / "checked") is None  # no stale choice outlives a run going on
    unchecked = train(prepare(replace(SPEC, recipe="dsn")), tmp_path / "unchecked")
    assert unchecked.baseline is None and not (tmp_path / "unchecked" / "baseline").exists()
    assert [row["loss_main"] for row in unchecked.history] == [
        row["loss_main"] for row in checked.history
    ]  # the check changes nothing in the run with heads


def test_a_checked_run_exports_the_run_it_kept(tmp_path):
    out = tmp_path / "run"
    train(prepare(SPEC), out)
    kept_baseline = Choice("baseline", "training loss", 0.5, 0.2, 0.8, 0.9, "val_acc_main")
    write_choice(out, kept_baseline)
    export_run(out, tmp_path / "kept.pt")
    export_run(out, tmp_path / "heads.pt", run="heads")
    for name, folder in (("kept.pt", out / "baseline"), ("heads.pt", out)):
        written = torch.load(tmp_path / name)
        saved = torch.load(folder / "last.pt", weights_only=False)["model"]
        assert all(torch.equal(written[k], saved[k]) for k in saved)
    (out / "choice.json").unlink()  # the check did not finish (interrupted in its second run)
    with pytest.raises(ConfigError, match="not finished its baseline check.*resume=True"):
        kept_folder(out)
    assert kept_folder(out, "heads") == out


@given(losses, losses, losses, scores, scores, scores)
def test_the_retry_is_kept_only_where_it_does_no_worse_than_both_runs(lh, lb, ld, sh, sb, sd):
    def rows(loss, score):
        return [{"loss_main": loss, "val_acc_main": score}]

    choice = with_deepest(choose(rows(lh, sh), rows(lb, sb)), rows(ld, sd), "f.9")
    no_worse = ld <= min(lh, lb) + TIE and sd >= max(sh, sb)
    assert (choice.kept == "deepest") == no_worse
    assert choice.deepest == "f.9" and (choice.loss_deepest, choice.score_deepest) == (ld, sd)
    kept_score = {"heads": sh, "baseline": sb, "deepest": sd}[choice.kept]
    assert kept_score >= sb  # a retry never takes the kept run below the run without heads


def test_the_deepest_point_is_retried_only_behind_an_aux_head_and_with_points_to_drop():
    points = ["f.3", "f.9"]  # by depth, as a selection orders them
    behind = [{"val_acc_main": 0.70, "val_acc_aux0": 0.70 + RETRY_LAG + 0.01}]
    level = [{"val_acc_main": 0.70, "val_acc_aux0": 0.70 + RETRY_LAG}]
    assert retry_point(points, behind) == "f.9"
    assert retry_point(points, level) is None
    assert retry_point(points[:1], behind) is None  # one point: the retry would be the same run


def _behind(run, folder, stage):
    """Train as the CLI does, and have the run with heads end with its main head behind aux0."""
    rows = fit_plainly()(run, folder, stage)
    if stage == "heads":
        rows[-1] = {**rows[-1], "val_acc_aux0": rows[-1]["val_acc_main"] + 2 * RETRY_LAG}
    return rows


def test_the_retry_trains_exactly_the_run_with_the_deepest_point_alone_and_exports_it(tmp_path):
    two = replace(SPEC, points="2")
    run = prepare(two)
    deepest = max(run.selection.points, key=lambda p: p.depth).name
    assert run.selection.names[-1] == deepest
    checked = train(run, tmp_path / "checked", _behind)
    alone = train(prepare(replace(two, points=deepest, check_baseline=False)), tmp_path / "alone")
    assert checked.choice.deepest == deepest and checked.deepest is not None
    timeless = [{k: v for k, v in row.items() if k != "seconds"} for row in alone.history]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in checked.deepest] == (
        timeless
    )
    assert read_choice(tmp_path / "checked") == checked.choice
    assert checked.kept() == {"heads": checked.history, "baseline": checked.baseline}.get(
        checked.choice.kept, checked.deepest
    )
    write_choice(tmp_path / "checked", replace(checked.choice, kept="deepest"))
    assert kept_folder(tmp_path / "checked") == tmp_path / "checked" / "deepest"
    export_run(tmp_path / "checked", tmp_path / "kept.pt")
    written = torch.load(tmp_path / "kept.pt")
    saved = torch.load(tmp_path / "checked" / "deepest" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(written[k], saved[k]) for k in saved)
    level = train(prepare(two), tmp_path / "level", _level)
    assert level.deepest is None and not (tmp_path / "level" / "deepest").exists()


def _level(run, folder, stage):
    rows = fit_plainly()(run, folder, stage)
    if stage == "heads":  # every aux head level with the main head
        last = rows[-1]
        rows[-1] = {
            k: last["val_acc_main"] if k.startswith("val_acc_aux") else v for k, v in last.items()
        }
    return rows
