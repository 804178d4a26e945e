"""The CUDA paths on a GPU, in one command that writes one JSON.

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu.json] [--budget 360]

It runs the project from the working tree (no install needed) and every check in its own process
with its own time limit, so a hang costs only that check: ``train``, ``train_amp`` and
``train_compile`` (``tapfinder train`` on the built-in shapes set with ``--device cuda``, ``--amp``,
``--compile``: the loss finite, the main head's mIoU above what always answering the commonest class
scores, the checkpoint exported and run on the CPU), ``torchrun_nccl`` (one process under torchrun:
nccl, DDP, every BatchNorm of the model and of the heads a SyncBatchNorm, a finite loss),
``cost`` (``benchmarks/cost.py --device cuda``: default heads ≤ 1.3× the baseline's step time and
peak memory) and ``select_points`` (against ``create_feature_extractor``, as in
``benchmarks/speed.py``).
With ``--device cpu`` the train and torchrun checks run on the CPU at a tiny size and the CUDA-only
ones are skipped, which is how the test suite keeps this script's logic alive. Exit 0 when every
check that ran passed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project runs from the working tree, installed or not
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu.json"
BAR = 1.3  # default heads against the baseline: step time and peak memory
SHARES = {  # each check's share of the budget (the rest is slack)
    "train": 0.1,
    "train_amp": 0.09,
    "train_compile": 0.4,  # compiling the forward and backward graphs is most of this check
    "torchrun_nccl": 0.09,
    "cost": 0.16,
    "select_points": 0.06,
}
# the default run trains twice (the baseline check); the AMP and compile checks train the heads
# alone, so their share goes to what they test
HEADS_ALONE = ["--no-check-baseline"]


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _environment() -> dict:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_step(argv: list[str], timeout: float, cwd: Path | None = None, env: dict | None = None):
    """``(return code, the output's last 3000 characters, seconds)``; a command past ``timeout``
    returns code 124."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            cwd=cwd or ROOT,
            env=env or _environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        code, output = 124, f"timed out after {timeout:.0f} s\n{e.stdout or ''}{e.stderr or ''}"
    return code, output[-3000:], round(time.perf_counter() - start, 1)


def check(name: str, ok: bool, seconds: float, detail: dict, error: str = "") -> dict:
    return dict(
        name=name,
        status="pass" if ok else "fail",
        seconds=seconds,
        detail=detail,
        error="" if ok else error,
    )


def skipped(name: str, why: str) -> dict:
    return dict(name=name, status="skip", seconds=0.0, detail={}, error=why)


# the train checks


def chance_miou(labels, num_classes: int) -> float:
    """mIoU of always answering the commonest class: its pixel share over the class count.

    >>> import torch
    >>> chance_miou(torch.tensor([[0, 0, 0, 1]]), 2)
    0.375
    """
    counts = labels.flatten().bincount(minlength=num_classes)
    return float(counts.max() / counts.sum()) / num_classes


def judge_run(rows: list[dict], chance: float) -> tuple[bool, dict, str]:
    """Whether a run's metrics rows show a finite loss and a main head above ``chance``.

    >>> judge_run([{"loss": 1.0, "val_miou": 0.5}], 0.2)[0]
    True
    >>> judge_run([{"loss": float("nan"), "val_miou": 0.5}], 0.2)[2]
    'the loss is not finite: nan'
    """
    if not rows:
        return False, {}, "no metrics row was written"
    last = rows[-1]
    detail = dict(epochs=len(rows), loss=last["loss"], val_miou=last["val_miou"], chance=chance)
    if not all(math.isfinite(r["loss"]) for r in rows):
        return False, detail, f"the loss is not finite: {last['loss']}"
    if last["val_miou"] <= chance:
        return False, detail, f"val mIoU {last['val_miou']:.3f} is not above chance {chance:.3f}"
    return True, detail, ""


def train_check(
    name: str, flags: list[str], device: str, work: Path, timeout: float, tiny: bool
) -> dict:
    """``tapfinder train`` with ``flags`` on the shapes set, judged, then exported and run on
    the CPU."""
    import torch

    from deepsup.data import load_data

    run = work / name
    size = ["--epochs", "2", "--limit-batches", "12"] if tiny else ["--epochs", "3"]
    argv = _python(
        "-m",
        "cli.app",
        "train",
        "--model",
        "unet_small",
        "--data",
        "shapes",
        "--device",
        device,
        *size,
        *flags,
        "--out",
        str(run),
        "--yes",
        "--quiet",
    )
    code, output, seconds = run_step(argv, timeout)
    if code != 0:
        return check(name, False, seconds, {"rc": code}, output)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    data = load_data("shapes")
    labels = torch.stack([data.val[i][1] for i in range(len(data.val))])
    ok, detail, error = judge_run(rows, chance_miou(labels, data.num_classes))
    exported = run / "model.pt"
    cpu_only = dict(_environment(), CUDA_VISIBLE_DEVICES="")
    code, output, more = run_step(
        _python("-m", "cli.app", "export", str(run), "--out", str(exported)), timeout, env=cpu_only
    )
    seconds += more
    if code != 0:
        return check(name, False, seconds, detail, f"export on the CPU failed: {output}")
    from tapfinder.models import get_model

    model = get_model("unet_small", num_classes=data.num_classes)[0]
    model.load_state_dict(torch.load(exported, map_location="cpu"), strict=True)
    with torch.no_grad():
        out = model.eval()(data.val[0][0][None])
    detail["cpu_output"] = list(out.shape)
    return check(name, ok, seconds, detail, error)


# torchrun


def ddp_probe(out: Path, device: str) -> None:
    """Under torchrun: a tapped BatchNorm net in deepsup's Trainer; what DDP and SyncBatchNorm made
    of it, and a short fit's loss, written to ``out``."""
    import torch
    from torch import nn

    from deepsup import TrainConfig, Trainer, make_loss
    from deepsup.data import load_data
    from tapfinder import attach, select_points
    from tapfinder.models import get_model

    data = load_data("shapes")
    model, shape = get_model("unet_small", num_classes=data.num_classes)
    tapped = attach(
        model,
        select_points(model, torch.randn(*shape)),
        task="segmentation",
        num_classes=data.num_classes,
    )
    config = TrainConfig(epochs=1, limit_batches=3, batch_size=32)
    trainer = Trainer(
        tapped,
        make_loss("imachsr", layouts=tapped.layouts, task="segmentation"),
        data.train,
        data.val,
        config,
        task="segmentation",
        num_classes=data.num_classes,
        device=device,
    )
    inner = getattr(trainer.model, "module", trainer.model)

    def norms(module: nn.Module, kind) -> int:
        return sum(isinstance(m, kind) for m in module.modules())

    plain_bn = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    rows = trainer.fit()
    report = dict(
        backend=torch.distributed.get_backend() if torch.distributed.is_initialized() else "",
        world=torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
        ddp=isinstance(trainer.model, nn.parallel.DistributedDataParallel),
        sync_bn=norms(inner, nn.SyncBatchNorm),
        heads_sync_bn=norms(inner.heads, nn.SyncBatchNorm),
        batch_norm_left=norms(inner, plain_bn),
        loss=rows[-1]["loss"],
    )
    if int(os.environ.get("RANK", 0)) == 0:
        out.write_text(json.dumps(report))


def judge_ddp(report: dict, device: str) -> tuple[bool, str]:
    """Whether a probe's report shows the process group, DDP and (on CUDA) SyncBatchNorm everywhere.

    >>> judge_ddp(dict(backend="gloo", ddp=True, sync_bn=0, heads_sync_bn=0,
    ...                batch_norm_left=4, loss=1.0), "cpu")
    (True, '')
    >>> judge_ddp(dict(backend="nccl", ddp=True, sync_bn=3, heads_sync_bn=0,
    ...                batch_norm_left=1, loss=1.0), "cuda")
    (False, '1 BatchNorm layers not converted; no SyncBatchNorm in the heads')
    """
    wanted = "nccl" if device == "cuda" else "gloo"
    problems = []
    if report["backend"] != wanted:
        problems.append(f"backend {report['backend'] or 'none'}, not {wanted}")
    if not report["ddp"]:
        problems.append("the model is not under DistributedDataParallel")
    if device == "cuda" and report["batch_norm_left"]:
        problems.append(f"{report['batch_norm_left']} BatchNorm layers not converted")
    if device == "cuda" and not report["heads_sync_bn"]:
        problems.append("no SyncBatchNorm in the heads")
    if not math.isfinite(report["loss"]):
        problems.append(f"the loss is not finite: {report['loss']}")
    return not problems, "; ".join(problems)


def torchrun_check(device: str, work: Path, timeout: float) -> dict:
    out = work / "ddp.json"
    argv = _python(
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "1",
        "--master_port",
        "29533",
        str(Path(__file__)),
        "--ddp-probe",
        str(out),
        "--device",
        device,
    )
    code, output, seconds = run_step(argv, timeout)
    if code != 0 or not out.is_file():
        return check("torchrun_nccl", False, seconds, {"rc": code}, output)
    report = json.loads(out.read_text())
    ok, error = judge_ddp(report, device)
    return check("torchrun_nccl", ok, seconds, report, error)


# cost and speed


def judge_cost(rows: list[dict]) -> tuple[bool, str]:
    """Whether the default (dks) heads stay within :data:`BAR` of the baseline on every model.

    >>> judge_cost([dict(model="m", arm="dks", time_ratio=1.2, memory_ratio=1.4)])
    (False, 'm: memory 1.40×')
    """
    over = []
    for r in rows:
        if r["arm"] == "dks":
            over += [f"{r['model']}: time {r['time_ratio']:.2f}×"] * (r["time_ratio"] > BAR)
            over += [f"{r['model']}: memory {r['memory_ratio']:.2f}×"] * (r["memory_ratio"] > BAR)
    return not over, "; ".join(over)


def cost_check(work: Path, timeout: float) -> dict:
    out = work / "cost.json"
    argv = _python(
        str(ROOT / "benchmarks" / "cost.py"), "--device", "cuda", "--steps", "20", "--out", str(out)
    )
    code, output, seconds = run_step(argv, timeout)
    if code != 0 or not out.is_file():
        return check("cost", False, seconds, {"rc": code}, output)
    rows = json.loads(out.read_text())["rows"]
    ok, error = judge_cost(rows)
    return check("cost", ok, seconds, {"rows": rows}, error)


def speed_probe(out: Path) -> None:
    import torch

    sys.path.insert(0, str(ROOT))
    from benchmarks.speed import _compare

    torch.set_num_threads(1)
    out.write_text(json.dumps(_compare(3)))


def speed_check(work: Path, timeout: float) -> dict:
    out = work / "speed.json"
    code, output, seconds = run_step(
        _python(str(Path(__file__)), "--speed-probe", str(out)), timeout
    )
    if code != 0 or not out.is_file():
        return check("select_points", False, seconds, {"rc": code}, output)
    return check("select_points", True, seconds, {"rows": json.loads(out.read_text())})


# the whole run


def run_checks(device: str, budget: float, work: Path, only: list[str] | None = None) -> list[dict]:
    """Every check in order, each within its share of ``budget`` seconds; CUDA-only checks are
    skipped on the CPU."""
    tiny = device == "cpu"
    planned = {
        "train": lambda t: train_check("train", [], device, work, t, tiny),
        "train_amp": lambda t: train_check(
            "train_amp", ["--amp", *HEADS_ALONE], device, work, t, tiny
        ),
        "train_compile": lambda t: train_check(
            "train_compile", ["--compile", *HEADS_ALONE], device, work, t, tiny
        ),
        "torchrun_nccl": lambda t: torchrun_check(device, work, t),
        "cost": lambda t: cost_check(work, t),
        "select_points": lambda t: speed_check(work, t),
    }
    cuda_only = {"train_amp", "train_compile", "cost"}
    results = []
    for name, run in planned.items():
        if only and name not in only:
            continue
        if device == "cpu" and name in cuda_only:
            results.append(skipped(name, "no CUDA device: run with --device cuda on a GPU"))
            continue
        try:
            results.append(run(budget * SHARES[name]))
        except Exception:  # a check that breaks is a failed check; the others still run
            results.append(check(name, False, 0.0, {}, traceback.format_exc()[-3000:]))
        print(
            f"{name:14s} {results[-1]['status']} ({results[-1]['seconds']} s) "
            f"{results[-1]['error'][:300]}",
            flush=True,
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--budget", type=float, default=360.0, help="seconds for all checks")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--only", default="", help="comma-separated check names")
    parser.add_argument("--ddp-probe", default="", help=argparse.SUPPRESS)
    parser.add_argument("--speed-probe", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ddp_probe:
        ddp_probe(Path(args.ddp_probe), args.device)
        return 0
    if args.speed_probe:
        speed_probe(Path(args.speed_probe))
        return 0
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "no CUDA device here; run on a GPU, or --device cpu for the logic alone",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory() as work:
        checks = run_checks(
            args.device, args.budget, Path(work), args.only.split(",") if args.only else None
        )
    from benchmarks._common import code_version

    report = dict(
        **code_version(),
        machine=platform.platform(),
        gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else "",
        torch=torch.__version__,
        when=time.strftime("%Y-%m-%d %H:%M:%S"),
        device=args.device,
        budget_s=args.budget,
        passed=all(c["status"] != "fail" for c in checks),
        checks=checks,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
