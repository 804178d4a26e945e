"""Two CPU processes under torchrun (gloo, DDP) give the single-process result."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # the head holds a process's own error, the tail the launcher's account of it
    assert done.returncode == 0, done.stderr[:3000] + "\n[...]\n" + done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _torchrun(port: int, *args):
    return _run(
        ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port, *args]
    )


def test_ddp_gradients_on_half_batches_equal_one_full_batch():
    """The reducer sees every parameter the taps use, hooked or read through the fx rewrite."""
    gaps = _torchrun(29515, "tests/assets/ddp_grads.py")
    assert gaps["hooks"] < 1e-4 and gaps["rewrite"] < 1e-4, gaps


# Under DDP on CPU each process normalizes its half batch with its own BatchNorm statistics (the
# heads have BatchNorm), so trained runs agree within that noise, not to the last bit: on 64
# validation samples one flipped prediction moves an accuracy by 1/64.
# With the aux terms on an optimizer state of their own, the trainer takes the two gradients apart
# and averages them over the processes itself.
@pytest.mark.parametrize(
    "taps, aux_state, port, acc_tol",
    [
        ("hooks", "shared", 29517, 1e-3),
        ("rewrite", "shared", 29519, 1.5 / 64),
        ("hooks", "own", 29521, 1e-3),
    ],
)
def test_torchrun_two_processes_match_one(tmp_path, taps, aux_state, port, acc_tol):
    single = _run(["tests/assets/ddp_train.py", tmp_path / "one", taps, aux_state])
    double = _torchrun(port, "tests/assets/ddp_train.py", tmp_path / "two", taps, aux_state)
    assert double["loss"] == pytest.approx(single["loss"], abs=5e-3)
    for key in ("val_acc_main", "val_acc_aux0", "val_acc_aux1"):
        assert double.get(key, 0) == pytest.approx(single.get(key, 0), abs=acc_tol), key
    assert (tmp_path / "two" / "last.pt").is_file()
    assert (
        len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 2
    )  # rank 0 wrote once


def test_a_checked_run_under_torchrun_writes_one_choice_from_both_runs(tmp_path):
    from deepsup.baseline_check import choose, read_choice

    said = _torchrun(29523, "tests/assets/ddp_checked.py", tmp_path / "run")
    written = read_choice(tmp_path / "run")
    assert written is not None and said["kept"] == written.kept
    rows = [
        [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        for folder in (tmp_path / "run", tmp_path / "run" / "baseline")
    ]
    assert choose(*rows) == written  # from both runs' last epochs, as every process saw them
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_batchnorm_is_synced_on_cuda_only_and_tapped_models_follow():
    """The conversion itself runs on CPU; the rewritten tap program must pick up the new layers."""
    import torch
    from torch import nn

    from deepsup.distributed import sync_batchnorm
    from tapfinder import select_points
    from tapfinder.taps import attach
    from tests.assets.models import FunctionalNet

    model = FunctionalNet()
    tapped = attach(model, select_points(model, torch.randn(2, 3, 32, 32), points=["add"]))
    assert sync_batchnorm(tapped, torch.device("cpu")) is tapped and isinstance(
        model.bn, nn.BatchNorm2d
    )
    synced = sync_batchnorm(tapped, torch.device("cuda"))
    assert synced is tapped and isinstance(model.bn, nn.SyncBatchNorm)
    assert all(
        not isinstance(m, nn.BatchNorm2d) or isinstance(m, nn.SyncBatchNorm)
        for m in tapped.modules()
    )
    assert any(isinstance(m, nn.SyncBatchNorm) for m in tapped._runner().modules())
