"""`tapfinder train` and `tapfinder export RUN`: preview, train, resume, export, and bad input."""

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from deepsup.run import load_run_spec

runner = CliRunner()
BASE = [
    "train",
    "--model",
    "tests/assets/model_1d.py",
    "--data",
    "tests/assets/data_file.py",
    "--epochs",
    "2",
    "--batch-size",
    "16",
]


def test_train_preview_then_train_resume_and_export(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [*BASE, "--out", str(out), "--yes"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for text in ("Chosen tap points", "Auxiliary heads", "epoch   2/2", "done"):
        assert text in result.output
    assert {"last.pt", "metrics.jsonl", "selection.json", "run.json"} <= {
        p.name for p in out.iterdir()
    }
    assert "recipe dsn" in result.output  # --recipe auto, classification
    assert json.loads((out / "run.json").read_text())["spec"]["recipe"] == "dsn"
    again = runner.invoke(app, [*BASE, "--out", str(out), "--yes"])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, [*BASE, "--out", str(out), "--yes", "--resume"])
    assert (
        resumed.exit_code == 0 and "done: 2 epochs" in resumed.output
    )  # already finished: nothing to redo
    changed = _error(
        [*BASE, "--recipe", "dks", "--seed", "3", "--out", str(out), "--yes", "--resume"]
    )
    # --recipe auto checks the baseline, a recipe named does not (deepsup.run.checks_baseline)
    assert "trained with --recipe dsn --check-baseline --seed 0; pass the same to resume" in changed
    longer = _error(
        [*BASE[:-4], "--epochs", "3", "--batch-size", "16", "--out", str(out), "--yes", "--resume"]
    )
    assert "cannot go on to 3 epochs: its onecycle schedule is laid out over 2 epochs" in longer
    exported = runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "m.pt")])
    assert exported.exit_code == 0, exported.output
    from tests.assets.models import Plain1D

    Plain1D(depth=10, width=8).load_state_dict(torch.load(tmp_path / "m.pt"), strict=True)
    assert (
        runner.invoke(
            app, ["export", str(out), "--best", "--out", str(tmp_path / "b.pt")]
        ).exit_code
        == 0
    )
    best = torch.load(out / "best.pt", weights_only=False)
    assert all(
        torch.equal(a, b)
        for a, b in zip(torch.load(tmp_path / "b.pt").values(), best["model"].values())
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and "val_acc_aux0" in rows[-1]


def test_declining_the_preview_trains_nothing(tmp_path):
    result = runner.invoke(app, [*BASE, "--out", str(tmp_path / "r")], input="n\n")
    assert result.exit_code == 0 and not (tmp_path / "r" / "last.pt").exists()


def test_torchrun_without_yes_is_refused_before_anything_runs(tmp_path):
    """Every process would ask the question; only --yes makes sense under torchrun."""
    result = runner.invoke(app, [*BASE, "--out", str(tmp_path / "r")], env={"WORLD_SIZE": "2"})
    assert result.exit_code == 2 and "--yes" in result.output and not (tmp_path / "r").exists()


def test_baseline_recipe_has_no_taps(tmp_path):
    result = runner.invoke(
        app, [*BASE, "--epochs", "1", "--recipe", "baseline", "--out", str(tmp_path / "b"), "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "Chosen tap points" not in result.output
    assert "optimizer state" not in result.output  # no aux terms: one optimizer


def test_a_run_from_before_aux_state_resumes_only_with_the_shared_state(tmp_path):
    """A run whose ``run.json`` and checkpoint predate ``--aux-state`` trained with one state; the
    default (own) is refused with the flag to pass, and ``--aux-state shared`` goes on."""
    out = tmp_path / "run"
    args = [*BASE, "--aux-state", "shared", "--out", str(out), "--yes"]
    assert runner.invoke(app, args).exit_code == 0
    spec = json.loads((out / "run.json").read_text())
    del spec["spec"]["train"]["aux_state"]
    (out / "run.json").write_text(json.dumps(spec))
    state = torch.load(out / "last.pt", weights_only=False)
    del state["config"]["train"]["aux_state"]
    torch.save(state, out / "last.pt")
    assert load_run_spec(out)[0].train.aux_state == "shared"  # as it trained (exports read it)
    own = [a for a in args if a not in ("--aux-state", "shared")]
    assert "trained with --aux-state shared; pass the same" in _error([*own, "--resume"])
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0 and "done: 2 epochs" in resumed.output, resumed.output


def _error(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_bad_training_input_is_one_line(tmp_path):
    assert "no such built-in set" in _error([*BASE[:3], "--data", "nope", "--yes"])
    assert "unknown recipe" in _error([*BASE, "--recipe", "magic", "--yes"])
    assert "cannot take the data's samples" in _error(
        [
            "train",
            "--model",
            "tests/assets/model_file.py",
            "--data",
            "tests/assets/data_file.py",
            "--yes",
        ]
    )
    assert "not a training run" in _error(
        ["export", str(tmp_path), "--out", str(tmp_path / "x.pt")]
    )
    assert "not a map [N, 5, 32, 32]; use a segmentation model" in _error(
        ["train", "--model", "cifar_resnet20", "--data", "shapes", "--epochs", "1", "--yes"]
    )
    assert "unknown device 'tpu'" in _error([*BASE, "--device", "tpu", "--yes"])
    if not torch.cuda.is_available():
        assert "no usable CUDA GPU; use --device cpu" in _error(
            [*BASE, "--device", "cuda", "--yes"]
        )


def test_a_zoo_model_is_built_for_the_folder_classes_and_exports(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for k, cls in enumerate(("cat", "dog", "fox")):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (36, 36), color=(80 * k, 20 * i, 90)).save(
                tmp_path / "imgs" / cls / f"{i}.png"
            )
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            "cifar_resnet20",
            "--data",
            str(tmp_path / "imgs"),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--out",
            str(out),
            "--yes",
        ],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "done: 1 epoch;" in result.output and "at the end, best" in result.output
    exported = runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "m.pt")])
    assert exported.exit_code == 0, exported.output
    from tapfinder.models import get_model

    get_model("cifar_resnet20", num_classes=3)[0].load_state_dict(
        torch.load(tmp_path / "m.pt"), strict=True
    )


def test_sigterm_stops_training_like_ctrl_c():
    """`kill`, `timeout` and cluster preemption send SIGTERM: stop with the checkpoint line, not a
    bare death."""
    import os
    import signal
    import time

    from cli.training import _sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with _sigterm_as_interrupt() as terminated:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert terminated and signal.getsignal(signal.SIGTERM) is before


def test_a_dense_model_on_classification_data_says_so(tmp_path):
    path = tmp_path / "dense.py"
    path.write_text("from torch import nn\nmodel = nn.Conv1d(1, 10, 3, padding=1)\n")
    assert "predicts [2, 10, 32], not [N, 10]" in _error(
        ["train", "--model", str(path), "--data", "tests/assets/data_file.py", "--yes"]
    )


def test_a_model_that_cannot_take_the_classes_says_how(tmp_path):
    path = tmp_path / "fixed.py"
    path.write_text(
        "from torch import nn\nmodel = nn.Sequential(nn.Conv1d(1, 4, 3), nn.Flatten(), "
        "nn.LazyLinear(4))\n"
    )
    assert "num_classes argument" in _error(
        ["train", "--model", str(path), "--data", "tests/assets/data_file.py", "--yes"]
    )


def test_loss_options_train_show_and_hold_on_resume(tmp_path):
    """The recipe's options reach the loss that trains, the preview says them, and a resume keeps
    them."""
    out = tmp_path / "run"
    args = [
        *BASE[:-4],
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--recipe",
        "dsn",
        "--alpha",
        "0.4",
        "--alpha-decay",
        "--kd",
        "0.5",
        "--out",
        str(out),
        "--yes",
    ]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (
        "loss  dsn: CE on the main head + 0.4 × CE on each aux head, decayed linearly to 0, "
        "lowered while the main head leads that head + 0.5 × KD" in result.output
    )
    assert json.loads((out / "run.json").read_text())["spec"]["loss"] == {
        "alpha": 0.4,
        "kd": 0.5,
        "alpha_decay": True,
    }
    assert "loss_kd0" in json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert (
        "train 1 epoch × 3 steps of 16, adam lr 0.001, onecycle schedule, clip 1, aux terms on an "
        "optimizer state of their own, seed 0, on cpu" in result.output
    )
    assert (
        runner.invoke(app, [*args, "--resume", "--device", "cpu"]).exit_code == 0
    )  # the device may change
    dropped = [a for a in args if a not in ("--kd", "0.5")]
    assert "was trained with --kd 0.5; pass the same" in _error([*dropped, "--resume"])
    assert "only dks reads it" in _error(
        [*args[:-3], "--direction", "top-down", "--out", str(tmp_path / "x"), "--yes"]
    )
    assert "must be 0 or more" in _error([*BASE, "--recipe", "dks", "--beta", "-1", "--yes"])
    assert "fade_by is the fraction" in _error([*BASE, "--fade-by", "1.5", "--yes"])
    assert "alpha_gate must be one of none, lead" in _error([*BASE, "--alpha-gate", "x", "--yes"])
    assert not (tmp_path / "x").exists()
    saved = json.loads((out / "run.json").read_text())
    assert (
        saved["loss_config"]["temperature"] == 2.0 and saved["loss_config"]["direction"] == "auto"
    )
    saved["loss_config"]["temperature"] = (
        3.0  # as if the version that started it had another default
    )
    (out / "run.json").write_text(json.dumps(saved))
    assert "was trained with --temperature 3.0; pass the same" in _error([*args, "--resume"])


def test_a_sequence_model_is_built_for_channels_last_samples_and_exports(tmp_path):
    """[T, C] samples: a model taking in_channels is built with C (the reading it accepts), and
    export rebuilds it the same way."""
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            "tests/assets/seq_model.py:SeqNet",
            "--data",
            "tests/assets/seq_data.py",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--out",
            str(out),
            "--yes",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["build"]["in_channels"] == 8
    assert runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "m.pt")]).exit_code == 0
    from tests.assets.seq_model import SeqNet

    SeqNet(num_classes=3, in_channels=8).load_state_dict(torch.load(tmp_path / "m.pt"), strict=True)


@pytest.mark.slow
def test_compile_trains_the_same_and_checkpoints_the_plain_model(tmp_path):
    """--compile runs the tapped model through torch.compile (after attach, as hooks need); the
    metrics
    match an uncompiled run, the checkpoint holds the model's own keys, and a resume may drop it."""
    rows = {}
    for flag in ("--compile", "--seed=0"):
        out = tmp_path / flag
        result = runner.invoke(
            app, [*BASE, "--out", str(out), "--yes", flag], env={"COLUMNS": "160"}
        )
        assert result.exit_code == 0, result.output
        rows[flag] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(rows["--compile"], rows["--seed=0"]):
        assert a["val_acc_main"] == pytest.approx(b["val_acc_main"], abs=1e-6)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    out = tmp_path / "--compile"
    assert not any(
        "_orig_mod" in k for k in torch.load(out / "last.pt", weights_only=False)["model"]
    )
    assert runner.invoke(app, [*BASE, "--out", str(out), "--yes", "--resume"]).exit_code == 0
    assert runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "m.pt")]).exit_code == 0


def test_the_default_checks_the_baseline_resumes_the_check_and_exports_what_it_kept(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [*BASE, "--out", str(out), "--yes"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "check then the same run without heads" in result.output  # the preview says so
    assert f"check the same run without heads, into {out / 'baseline'}" in result.output
    assert "check: kept the run with" in result.output
    assert (out / "baseline" / "last.pt").is_file() and (out / "choice.json").is_file()
    (out / "last.pt").rename(out / "moved.pt")  # what is left of a run is not overwritten
    again = _error([*BASE, "--out", str(out), "--yes"])
    assert "already holds a run" in again and "--resume" in again
    (out / "moved.pt").rename(out / "last.pt")
    # interrupted before the run without heads wrote its first checkpoint
    shutil.rmtree(out / "baseline")
    (out / "choice.json").unlink()
    said = _error(["export", str(out), "--out", str(tmp_path / "m.pt")])
    assert "has not finished its baseline check" in said and "--resume" in said
    assert "--run heads" in said
    resumed = runner.invoke(app, [*BASE, "--out", str(out), "--yes", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "epoch   2/2" in resumed.output and (out / "choice.json").is_file()
    exported = runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "m.pt")])
    assert exported.exit_code == 0, exported.output
    alone = runner.invoke(
        app, [*BASE, "--out", str(tmp_path / "alone"), "--yes", "--no-check-baseline"]
    )
    assert alone.exit_code == 0 and "without heads, into" not in alone.output
    assert "check: kept" not in alone.output
    assert not (tmp_path / "alone" / "baseline").exists()


def test_the_check_retries_the_deepest_point_resumes_the_retry_and_exports_it(
    tmp_path, monkeypatch
):
    # the tiny net's main head does not end behind in 2 epochs: the signal is forced here (what
    # sets it off is pinned in tests/deepsup/test_baseline_check.py)
    monkeypatch.setattr("deepsup.baseline_check.retry_point", lambda points, heads: points[-1])
    out = tmp_path / "run"
    args = [*BASE, "--points", "2", "--out", str(out), "--yes"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    deepest = load_run_spec(out / "deepest")[0].points
    said = f"the same run with {deepest} alone (the deepest point), into {out / 'deepest'}"
    assert said in result.output
    choice = json.loads((out / "choice.json").read_text())
    assert choice["deepest"] == deepest and "the run with " + deepest + " alone" in result.output
    # interrupted in the retry: its checkpoint is resumed, and the check chooses again
    (out / "choice.json").unlink()
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (out / "choice.json").is_file()
    choice["kept"] = "deepest"
    (out / "choice.json").write_text(json.dumps(choice))
    exported = runner.invoke(
        app, ["export", str(out), "--out", str(tmp_path / "m.pt")], env={"COLUMNS": "300"}
    )
    assert exported.exit_code == 0, exported.output
    assert "kept its retry with the deepest point alone" in exported.output
    written = torch.load(tmp_path / "m.pt")
    saved = torch.load(out / "deepest" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(written[k], saved[k]) for k in saved)
