"""benchmarks/gpu_check.py's own logic on the CPU: the train and torchrun checks run for real at a
tiny size and pass, the CUDA-only checks are skipped with a reason, the JSON says so, and the
judges fail what they must (so the GPU run cannot pass by construction)."""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import gpu_check  # noqa: E402


def test_the_cpu_run_passes_its_checks_and_skips_the_cuda_ones(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_check.py",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--only",
            "train,train_amp,torchrun_nccl,cost",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status == {"train": "pass", "train_amp": "skip", "torchrun_nccl": "pass", "cost": "skip"}
    train = next(c for c in report["checks"] if c["name"] == "train")["detail"]
    assert train["val_miou"] > train["chance"] and train["cpu_output"] == [1, 5, 32, 32]
    ddp = next(c for c in report["checks"] if c["name"] == "torchrun_nccl")["detail"]
    assert ddp["backend"] == "gloo" and ddp["ddp"] and math.isfinite(ddp["loss"])


def test_the_judges_fail_what_the_gpu_run_must_not_pass():
    assert not gpu_check.judge_run([{"loss": 1.0, "val_miou": 0.1}], 0.2)[0]
    assert not gpu_check.judge_run([], 0.2)[0]
    cuda_ok = dict(
        backend="nccl", ddp=True, sync_bn=20, heads_sync_bn=4, batch_norm_left=0, loss=1.0
    )
    assert gpu_check.judge_ddp(cuda_ok, "cuda") == (True, "")
    assert not gpu_check.judge_ddp({**cuda_ok, "backend": "gloo"}, "cuda")[0]
    assert not gpu_check.judge_ddp({**cuda_ok, "ddp": False}, "cuda")[0]
    assert not gpu_check.judge_ddp({**cuda_ok, "loss": math.nan}, "cuda")[0]
    rows = [
        dict(model="resnet50", arm="baseline", time_ratio=1.0, memory_ratio=1.0),
        dict(model="resnet50", arm="dks", time_ratio=1.31, memory_ratio=1.1),
    ]
    assert gpu_check.judge_cost(rows) == (False, "resnet50: time 1.31×")
    assert gpu_check.judge_cost(rows[:1]) == (True, "")


def test_without_cuda_the_gpu_run_says_what_to_do(tmp_path):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--out", str(tmp_path / "gpu.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "--device cpu" in done.stderr
    assert not (tmp_path / "gpu.json").exists()
