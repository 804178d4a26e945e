"""The main-head guard: a run whose main head does not learn while an aux head does says so, at
that epoch, in metrics.jsonl and in the CLI (the line and again at the end), with what to try."""

import json

import torch
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from deepsup.guard import main_head_warning
from deepsup.losses import make_loss
from deepsup.trainer import TrainConfig, Trainer
from tapfinder import select_points
from tapfinder.taps import attach
from tests.assets.models import Plain1D


def _easy(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randn(n, 1, 32, generator=g) * 0.1 + y[:, None, None].float() / 5
    return TensorDataset(x, y)


def _dead_main_head():
    torch.manual_seed(0)
    model = Plain1D(depth=10, width=8)
    torch.nn.init.zeros_(model.head.weight)
    model.head.weight.requires_grad_(False)  # the main head can only learn the class prior
    return model


def test_a_main_head_at_chance_beside_a_learning_aux_head_is_flagged(tmp_path):
    model = _dead_main_head()
    tapped = attach(model, select_points(model, torch.randn(2, 1, 32)))
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-2, schedule="none")
    history = Trainer(
        tapped, make_loss("dsn"), _easy(320, 0), _easy(160, 1), cfg, out=tmp_path
    ).fit()
    flagged = [row for row in history if row.get("guard")]
    assert flagged and "the main head is at chance" in flagged[-1]["guard"]
    assert "`alpha`" in flagged[-1]["guard"] and "`recipe=baseline`" in flagged[-1]["guard"]
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["guard"] == history[-1]["guard"]


def test_a_healthy_or_leading_main_head_is_not_flagged():
    assert main_head_warning({"epoch": 1, "val_acc_main": 0.9, "val_acc_aux0": 0.95}, 10) is None
    trailing = main_head_warning({"epoch": 1, "val_acc_main": 0.5, "val_acc_aux0": 0.9}, 10)
    assert trailing.startswith("epoch 1: the main head (50.0) trails aux0 (90.0) by 40 points")
    assert (
        main_head_warning({"epoch": 1, "val_miou": 0.7, "val_miou_aux0": 0.72}, 5, "segmentation")
        is None
    )


def test_the_advice_under_an_own_state_does_not_offer_a_weight_adam_divides_out():
    row = {"epoch": 1, "val_acc_main": 0.5, "val_acc_aux0": 0.9}
    assert "lower the aux weight (`alpha`)" in main_head_warning(row, 10)
    own = main_head_warning(row, 10, own_state=True)
    assert "lower the aux weight (`alpha`)" not in own
    assert "`aux_state=shared` and a lower `alpha`" in own and "`points`" in own


def test_a_checked_run_is_not_told_to_compare_with_the_baseline_it_is_about_to_train():
    row = {"epoch": 1, "val_acc_main": 0.5, "val_acc_aux0": 0.9}
    checked = main_head_warning(row, 10, own_state=True, checked=True)
    assert "`recipe=baseline`" not in checked and "the baseline check after this run" in checked
    assert "to keep heads, lower the aux weight on one optimizer state" in checked


def test_the_cli_says_it_at_the_epoch_and_again_at_the_end(tmp_path):
    from cli.app import app

    model_file = tmp_path / "dead.py"
    model_file.write_text(
        "import torch\nfrom tests.assets.models import Plain1D\n"
        "def build_model():\n    m = Plain1D(depth=10, width=8)\n"
        "    torch.nn.init.zeros_(m.head.weight)\n    m.head.weight.requires_grad_(False)\n"
        "    return m\n"
    )
    data = tmp_path / "easy.py"
    data.write_text(
        "from tests.deepsup.test_guard import _easy\nNUM_CLASSES = 10\n"
        "def get_datasets():\n    return _easy(320, 0), _easy(160, 1)\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            str(model_file),
            "--data",
            str(data),
            "--recipe",
            "dsn",
            "--epochs",
            "3",
            "--lr",
            "0.01",
            "--schedule",
            "none",
            "--batch-size",
            "32",
            "--out",
            str(tmp_path / "run"),
            "--yes",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: epoch")]
    assert len(warnings) >= 2 and "--aux-state shared and a lower --alpha" in warnings[-1]
    assert "--recipe baseline" in warnings[-1]
