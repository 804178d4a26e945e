"""The baseline check (``deepsup.baseline_check``, ``deepsup.run.train``): a checked run also trains
exactly the run without heads, keeps the heads only where their main head fits the training set and
scores on validation no worse than without them, and exports the one it kept."""

from dataclasses import replace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepsup.baseline_check import TIE, Choice, choose, read_choice, write_choice
from deepsup.run import RunSpec, export_run, kept_folder, prepare, train
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
