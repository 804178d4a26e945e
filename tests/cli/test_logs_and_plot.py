"""`--log csv,tensorboard` beside metrics.jsonl (every term, and whole again after a resume) and
`tapfinder plot RUN`."""

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.cli.test_train_cli import BASE

runner = CliRunner()


def test_csv_and_tensorboard_hold_every_term_and_survive_a_resume(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    args = [*BASE, "--out", str(out), "--yes", "--schedule", "none", "--log", "csv,tensorboard"]
    assert runner.invoke(app, args).exit_code == 0
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == len(history) == 2
    assert {"loss_main", "loss_aux0", "val_acc_main", "val_acc_aux0"} <= set(rows[0])
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    longer = [a if a != "2" else "3" for a in args[:-1]] + ["csv", "--resume"]
    assert runner.invoke(app, longer).exit_code == 0, "a resume may change the log"
    assert [r["epoch"] for r in csv.DictReader(open(out / "metrics.csv"))] == ["1", "2", "3"]


def test_an_unknown_log_is_one_line_before_anything_runs(tmp_path):
    result = runner.invoke(app, [*BASE, "--out", str(tmp_path / "r"), "--yes", "--log", "wandb"])
    assert result.exit_code == 2 and "unknown --log 'wandb'" in result.output.replace("\n", " ")
    assert not (tmp_path / "r").exists()


def test_plot_draws_the_run_and_refuses_a_folder_that_is_not_one(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert runner.invoke(app, [*BASE, "--out", str(out), "--yes"]).exit_code == 0
    png = tmp_path / "curves.png"
    result = runner.invoke(app, ["plot", str(out), "--out", str(png)])
    assert result.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(app, ["plot", str(tmp_path), "--out", str(png)])
    assert bad.exit_code == 2 and "no metrics.jsonl" in bad.output
    # the default checked the baseline: its main head is drawn too (without it the picture differs)
    shutil.rmtree(out / "baseline")
    alone = tmp_path / "alone.png"
    assert runner.invoke(app, ["plot", str(out), "--out", str(alone)]).exit_code == 0
    assert alone.read_bytes() != png.read_bytes()
