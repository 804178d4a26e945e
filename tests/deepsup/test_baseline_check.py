"""The baseline check (``deepsup.baseline_check``, ``deepsup.run.train``): a checked run also trains
exactly the run without heads, keeps the one whose main head fits the training set better, and
exports the one it kept."""

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
def test_the_training_loss_decides_and_the_validation_only_where_the_losses_tie(lh, lb, sh, sb):
    choice = choose(
        [{"loss_main": lh, "val_acc_main": sh}], [{"loss_main": lb, "val_acc_main": sb}]
    )
    tied = abs(lh - lb) <= TIE
    assert choice.by == ("validation" if tied else "training loss")
    keeps_heads = sh >= sb if tied else lh < lb
    assert choice.kept == ("heads" if keeps_heads else "baseline")
    swapped = choose(
        [{"loss_main": lb, "val_acc_main": sb}], [{"loss_main": lh, "val_acc_main": sh}]
    )
    if not tied or sh != sb:  # the rule does not favour either run but on an exact tie
        assert swapped.kept != choice.kept


def test_segmentation_is_chosen_on_its_miou():
    choice = choose([{"loss_main": 0.5, "val_miou": 0.6}], [{"loss_main": 0.505, "val_miou": 0.5}])
    assert (choice.kept, choice.by, choice.score) == ("heads", "validation", "val_miou")
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
