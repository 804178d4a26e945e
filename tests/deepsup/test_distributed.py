"""Two CPU processes under torchrun (gloo, DDP) give the single-process result."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, out):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args, str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_torchrun_two_processes_match_one(tmp_path):
    single = _run(["tests/assets/ddp_train.py"], tmp_path / "one")
    double = _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                   "tests/assets/ddp_train.py"], tmp_path / "two")
    for key in ("loss", "val_acc_main", "val_acc_aux0"):
        assert double[key] == pytest.approx(single[key], abs=1e-3), key
    assert (tmp_path / "two" / "last.pt").is_file()
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 2    # rank 0 wrote once
