"""A new user's mistakes: each is one line on stderr, exit code 2, no traceback, said before any
preview or training, and nothing is written or lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()
MODEL_1D = "tests/assets/model_1d.py"
DATA_1D = "tests/assets/data_file.py"
TRAIN = ["train", "--model", MODEL_1D, "--data", DATA_1D, "--epochs", "1", "--batch-size", "16"]


def _mistake(args, *, input=None) -> str:
    """Run the CLI; assert one line on stderr, exit 2, no traceback and no preview; return the
    line."""
    result = runner.invoke(app, args, input=input, env={"COLUMNS": "120"})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Chosen tap points" not in result.output, (
        result.output
    )
    return lines[0]


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_bug_in_the_model_file_names_the_file_and_line(tmp_path):
    init = _write(
        tmp_path / "init.py",
        "from torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linaer(3, 4)\n",
    )
    assert (
        "init.py:5: Net() failed with AttributeError: module 'torch.nn' has no attribute 'Linaer'"
        in _mistake(["inspect", init])
    )
    factory = _write(
        tmp_path / "factory.py", "import torch\ndef build_model():\n    return Nett()\n"
    )
    assert "factory.py:3: build_model() failed with NameError" in _mistake(["inspect", factory])
    example = _write(
        tmp_path / "example.py",
        "import torch\nmodel = torch.nn.Linear(3, 4)\n"
        "def example_input():\n    return torch.randn(2, 3).to('cuda')\n",
    )
    if not torch.cuda.is_available():
        assert "example.py:4: example_input() failed with" in _mistake(["inspect", example])
    assert "factory.py:3: build_model() failed" in _mistake(
        [*TRAIN[:2], factory, *TRAIN[3:], "--yes"]
    )


def test_a_wrong_input_shape_is_said_once_without_fx_internals():
    line = _mistake(["inspect", "tests/assets/model_file.py", "--input-shape", "2,5,32,32"])
    assert "fails on its example input in features.0" in line and "--input-shape" in line
    assert line.count("to have 3 channels") == 1 and "%" not in line and "call_module" not in line


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_out_that_cannot_be_written_is_refused_before_the_preview(tmp_path, where):
    out = tmp_path / "taken"
    out.write_text("keep me")
    if where == "proc":
        out = Path("/proc/x")
    assert "cannot write the run to" in _mistake([*TRAIN, "--out", str(out), "--yes"])
    if where == "file":
        assert out.read_text() == "keep me"
    assert not Path("/proc/x").exists()


def test_an_unknown_optimizer_or_schedule_is_refused_before_the_preview(tmp_path):
    assert "unknown --optimizer 'lamb'; use adam, adamw, sgd" in _mistake(
        [*TRAIN, "--optimizer", "lamb", "--out", str(tmp_path / "r"), "--yes"]
    )
    assert "unknown --aux-state 'both'; use shared, own" in _mistake(
        [*TRAIN, "--aux-state", "both", "--out", str(tmp_path / "r"), "--yes"]
    )
    assert "unknown --schedule 'poly'" in _mistake(
        [*TRAIN, "--schedule", "poly", "--out", str(tmp_path / "r")]
    )
    assert not (tmp_path / "r").exists()


def test_an_unknown_head_gradient_rule_is_refused_before_the_preview(tmp_path):
    said = _mistake([*TRAIN, "--head-gradient", "half", "--out", str(tmp_path / "r"), "--yes"])
    assert "--head-gradient must be one of full, yield, balance, got 'half'" in said
    assert not (tmp_path / "r").exists()


def test_heads_that_yield_under_the_own_state_are_refused_before_the_preview(tmp_path):
    said = _mistake([*TRAIN, "--head-gradient", "yield", "--out", str(tmp_path / "r"), "--yes"])
    assert "--head-gradient yield reads the main loss's gradient" in said
    assert "pass --aux-state shared with it" in said
    assert not (tmp_path / "r").exists()  # _mistake: no preview came first


def test_a_baseline_check_of_a_run_without_heads_is_refused_before_the_preview(tmp_path):
    args = [*TRAIN, "--recipe", "baseline", "--check-baseline", "--out", str(tmp_path / "r")]
    said = _mistake([*args, "--yes"])
    assert "--check-baseline compares a run with heads" in said and "drop one of the two" in said
    assert not (tmp_path / "r").exists()


_DATA = """import torch
from torch.utils.data import Dataset, TensorDataset
NUM_CLASSES = 3
{body}
"""


@pytest.mark.parametrize(
    "body, said",
    [
        (
            "def get_datasets():\n    d = TensorDataset(torch.randn(8, 1, 32), torch.tensor([0, "
            "1, 2, 3] * 2))\n"
            "    return d, d",
            "train: label 3 is outside 0..2 (NUM_CLASSES = 3)",
        ),
        (
            "def get_datasets():\n    d = TensorDataset(torch.randn(8, 1, 32), torch.rand(8))\n   "
            " return d, d",
            "targets are float32; give integer class ids",
        ),
        (
            "class D(Dataset):\n    def __len__(self): return 4\n    def __getitem__(self, i):\n"
            "        return {'image': torch.randn(1, 32), 'label': 0}\n"
            "def get_datasets():\n    return D(), D()",
            "train[0] is a dict (keys image, label)",
        ),
        (
            "def get_datasets():\n    d = TensorDataset(torch.rand(8, 32, 32, 3), "
            "torch.tensor([0, 1] * 4))\n    return d, d",
            "looks like a channels-last image [H, W, C]; give images channels first",
        ),
    ],
    ids=["label-range", "float-labels", "dict-samples", "channels-last"],
)
def test_data_the_trainer_cannot_use_is_refused_before_the_preview(tmp_path, body, said):
    data = _write(tmp_path / "data.py", _DATA.format(body=body))
    assert said in _mistake(
        [
            "train",
            "--model",
            "cifar_resnet20",
            "--data",
            data,
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--yes",
        ]
    )
    assert not (tmp_path / "r").exists()


def test_no_terminal_to_answer_says_add_yes(tmp_path):
    """The preview is shown, then the question finds nobody to answer it (a script, a pipe)."""
    result = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "r")], input="")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: nothing answered 'Train with these points?' (no "
        "terminal); add --yes to train without asking"
    )
    assert not (tmp_path / "r").exists()


def test_export_refuses_a_folder_as_out_and_leaves_nothing_behind(tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, [*TRAIN, "--out", str(run), "--yes"]).exit_code == 0
    (tmp_path / "target").mkdir()
    before = _snapshot(tmp_path)
    assert "is a folder" in _mistake(["export", str(run), "--out", str(tmp_path / "target")])
    assert _snapshot(tmp_path) == before


def test_a_run_exports_from_anywhere_and_a_moved_or_changed_model_file_is_checked(
    tmp_path, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    (work / "net.py").write_text(Path(MODEL_1D).read_text())
    repo = Path.cwd()
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.chdir(work)
    train = [
        "train",
        "--model",
        "net.py",
        "--data",
        str(repo / DATA_1D),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--schedule",
        "none",
        "--out",
        "run",
        "--yes",
    ]
    assert runner.invoke(app, train).exit_code == 0
    assert json.loads((work / "run" / "run.json").read_text())["spec"]["model"] == str(
        work / "net.py"
    )
    monkeypatch.chdir(tmp_path)  # elsewhere: the stored path still holds
    assert runner.invoke(app, ["export", "work/run", "--out", "m.pt"]).exit_code == 0
    (work / "net.py").rename(tmp_path / "moved.py")
    assert "is gone; point at it with --model" in _mistake(["export", "work/run", "--out", "m2.pt"])
    assert (
        runner.invoke(
            app, ["export", "work/run", "--out", "m2.pt", "--model", "moved.py"]
        ).exit_code
        == 0
    )
    resumed = runner.invoke(
        app,
        [
            *train[:2],
            "moved.py",
            *train[3:-3],
            "--epochs",
            "2",
            "--out",
            "work/run",
            "--yes",
            "--resume",
        ],
    )
    assert resumed.exit_code == 0 and "done: 2 epochs" in resumed.output, resumed.output
    (tmp_path / "changed.py").write_text(
        "from tests.assets.models import Plain1D\n"
        "def build_model():\n    return Plain1D(depth=10, width=12)\n"
    )
    line = _mistake(["export", "work/run", "--out", "m3.pt", "--model", "changed.py"])
    assert "does not fit the model" in line and "give the --model the run trained" in line
    assert not (tmp_path / "m3.pt").exists() and not list(tmp_path.glob("*.tmp"))


def test_a_finished_run_extends_where_its_schedule_allows(tmp_path):
    constant = [*TRAIN, "--schedule", "none", "--out", str(tmp_path / "c"), "--yes"]
    assert runner.invoke(app, constant).exit_code == 0
    longer = [a if a != "1" else "3" for a in constant]  # --epochs 3
    resumed = runner.invoke(app, [*longer, "--resume"])
    assert resumed.exit_code == 0 and "done: 3 epochs" in resumed.output, resumed.output
    cycle = [*TRAIN, "--out", str(tmp_path / "o"), "--yes"]
    assert runner.invoke(app, cycle).exit_code == 0
    line = _mistake([*[a if a != "1" else "2" for a in cycle], "--resume"])
    assert (
        "cannot go on to 2 epochs: its onecycle schedule is laid out over 1 epochs; only runs with "
        "--schedule none or step can be extended" in line
    )


def test_json_to_stdout_and_quiet_print_only_the_result():
    result = runner.invoke(app, ["inspect", "tests/assets/model_file.py", "--json", "-"])
    assert result.exit_code == 0 and json.loads(result.stdout)["format"] == "tapfinder.selection/2"
    assert "Chosen tap points" in result.stderr and not Path("-").exists()
    quiet = runner.invoke(app, ["inspect", "tests/assets/model_file.py", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout.strip() == "features.4"


def test_a_quiet_training_run_prints_only_its_result(tmp_path):
    result = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "q"), "--quiet"])
    assert result.exit_code == 0, result.output
    done, check = result.stdout.strip().splitlines()  # the result: the run, the check's choice
    assert done == f"done: 1 epoch; run in {tmp_path / 'q'} (metrics.jsonl, last.pt, best.pt)"
    assert check.startswith("check: kept the run with")


DYNAMIC = """import torch
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        block = lambda: nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())  # noqa: E731
        self.blocks = nn.ModuleList([block() for _ in range(8)])
        self.fc = nn.Linear(8, 10)
    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            if x.mean() > -100:   # data-dependent control flow: fx and torch.export fail
                x = b(x)
        return self.fc(x.mean((2, 3)))
def example_input():
    return torch.randn(2, 3, 16, 16)
"""


def test_a_fallback_past_fx_writes_nothing_on_stderr(tmp_path):
    """torch.export prints the partial graph of a failed export; none of it reaches the terminal."""
    model = _write(tmp_path / "dynamic.py", DYNAMIC)
    done = subprocess.run(
        [sys.executable, "-m", "cli.app", "inspect", model],
        capture_output=True,
        text=True,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stderr == ""
        and "recorded forward pass" in done.stdout
        and "export failed:" in done.stdout
    )
    import io
    from contextlib import redirect_stderr

    from tapfinder import select_points
    from tapfinder.sources import load_model

    caught = io.StringIO()
    with redirect_stderr(caught):
        select_points(load_model(model).model, torch.randn(2, 3, 16, 16))
    assert caught.getvalue() == ""
