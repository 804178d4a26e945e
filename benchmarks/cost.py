"""Cost of deep supervision: training step time and training memory with taps vs the plain model.

All arms of one model live in one process and their steps are interleaved round by round (baseline,
light, dks, baseline, ...), so machine load drifts hit every arm alike; the median step is reported.
Memory is counted, not sampled, so it is exact and repeatable on the CPU: the bytes a training step
holds at its peak, i.e. parameters + gradients + optimizer state + the activations autograd saves
for the backward pass (distinct storages, counted through ``saved_tensors_hooks``). The process's
resident-set size is useless here (torch's own libraries are most of it). Ratios are against the
baseline in the same run. Adapters: the light 1×1 head and the heavy DKS head, each with the dks
loss and one optimizer for the summed loss; ``dks+own`` is the DKS head with the aux terms on an
optimizer of their own, as the trainer steps them by default (``TrainConfig.aux_state="own"``: two
gradients, the second through the layers under the deepest point, held together, and a second
optimizer state).

On CUDA (``--device cuda``) the models are the realistic sizes of ``CUDA_MODELS`` (ResNet-50 and
ViT-B/16 at 224 px, batch 64, bf16 autocast; the 1D nets at batch 512), steps are timed between
``torch.cuda.synchronize()`` calls, and memory is the peak the CUDA allocator reports over an arm's
first two steps (``torch.cuda.max_memory_allocated``) above what was allocated before it was built.

    python benchmarks/cost.py [--steps 30] [--device cuda] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import print_table, write_results  # noqa: E402

MODELS = {
    "plain1d48": (128, (1, 40), 10),
    "resnet1d32": (128, (1, 40), 10),
    "cifar_resnet32": (128, (3, 32, 32), 100),
    "resnet18": (32, (3, 64, 64), 1000),
}
CUDA_MODELS = {
    "resnet50": (64, (3, 224, 224), 1000),
    "vit_b_16": (64, (3, 224, 224), 1000),
    "plain1d48": (512, (1, 40), 10),
    "resnet1d32": (512, (1, 40), 10),
}
ARMS = ("baseline", "light", "dks", "dks+own")


def _bytes(tensors, skip=()) -> int:
    """Bytes of the distinct storages behind ``tensors``, leaving out those of ``skip``."""
    seen, total = {t.untyped_storage().data_ptr() for t in skip}, 0
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def _arm(model_name: str, arm: str, models: dict = MODELS, device: str = "cpu"):
    import torch

    from deepsup.losses import make_loss
    from tapfinder import select_points
    from tapfinder.sources import load_model
    from tapfinder.taps import attach

    torch.manual_seed(0)
    batch, shape, classes = models[model_name]
    model = load_model(model_name).model
    adapter, own = arm.removesuffix("+own"), arm.endswith("+own")
    if arm == "baseline":
        net, loss = model, make_loss("baseline")
    else:
        sel = select_points(model, torch.randn(2, *shape))
        net = attach(model, sel, num_classes=classes, adapter=adapter)
        loss = make_loss("dks", layouts=net.layouts)
    net = net.to(device)
    opts = [torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9) for _ in range(1 + own)]
    return net, loss, opts


def _own_state_step(net, loss, opts, out, y) -> None:
    """The trainer's step under ``aux_state="own"``: the main loss's and the aux terms' gradients,
    taken apart and held together, each stepped through its own optimizer."""
    import torch

    params = [p for p in net.parameters() if p.requires_grad]
    main, extra, _ = loss.parts(out, y)
    grads = [
        torch.autograd.grad(t, params, retain_graph=True, allow_unused=True) for t in (main, extra)
    ]
    for each, opt in zip(grads, opts):
        for p, g in zip(params, each):
            p.grad = g
        opt.step()
    for p in params:
        p.grad = None


def _step(net, loss, opts, x, y, saved: list | None = None, bf16: bool = False):
    import contextlib

    import torch

    autocast = torch.autocast(x.device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        if saved is None:
            out = net(x)
        else:
            with torch.autograd.graph.saved_tensors_hooks(
                lambda t: saved.append(t) or t, lambda t: t
            ):
                out = net(x)
        if len(opts) == 2:
            _own_state_step(net, loss, opts, out, y)
            return
        total, _ = loss(out, y)
    opts[0].zero_grad(set_to_none=True)
    total.backward()
    opts[0].step()


def measure(model_name: str, steps: int) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    batch, shape, classes = MODELS[model_name]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, *shape, generator=g), torch.randint(0, classes, (batch,), generator=g)
    arms = {a: _arm(model_name, a) for a in ARMS}
    rows = []
    for arm, (net, loss, opts) in arms.items():
        saved: list = []
        _step(net, loss, opts, x, y, saved)  # warm-up, and the optimizer state exists after it
        params = list(net.parameters())
        state = [
            v
            for opt in opts
            for s in opt.state.values()
            for v in s.values()
            if isinstance(v, torch.Tensor)
        ]
        rows.append(
            {
                "model": model_name,
                "arm": arm,
                "params_mib": _bytes(params) / 2**20,
                "activations_mib": _bytes(saved, skip=params) / 2**20,
                # the weights, one gradient per optimizer (held together), the optimizer states
                "memory_mib": (
                    (1 + len(opts)) * _bytes(params) + _bytes(state) + _bytes(saved, skip=params)
                )
                / 2**20,
                "times": [],
            }
        )
    for _ in range(steps):
        for row, (net, loss, opts) in zip(rows, arms.values()):
            start = time.perf_counter()
            _step(net, loss, opts, x, y)
            row["times"].append(time.perf_counter() - start)
    for r in rows:
        r["step_s"] = sorted(r.pop("times"))[steps // 2]
    for r in rows:
        r["time_ratio"] = r["step_s"] / rows[0]["step_s"]
        r["memory_ratio"] = r["memory_mib"] / rows[0]["memory_mib"]
    return rows


def measure_cuda(model_name: str, steps: int) -> list[dict]:
    """:func:`measure` on the GPU at a realistic size: synchronized step times, allocator peaks."""
    import torch

    batch, shape, classes = CUDA_MODELS[model_name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *shape, generator=g).cuda()
    y = torch.randint(0, classes, (batch,), generator=g).cuda()
    arms, rows = {}, []
    for arm in ARMS:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        arms[arm] = _arm(model_name, arm, CUDA_MODELS, "cuda")
        for _ in range(2):  # the optimizer state exists after the first
            _step(*arms[arm], x, y, bf16=True)
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
        rows.append(dict(model=model_name, arm=arm, memory_mib=peak, times=[]))
    for _ in range(steps):
        for row, parts in zip(rows, arms.values()):
            torch.cuda.synchronize()
            start = time.perf_counter()
            _step(*parts, x, y, bf16=True)
            torch.cuda.synchronize()
            row["times"].append(time.perf_counter() - start)
    for r in rows:
        r["step_s"] = sorted(r.pop("times"))[steps // 2]
        r["time_ratio"] = r["step_s"] / rows[0]["step_s"]
        r["memory_ratio"] = r["memory_mib"] / rows[0]["memory_mib"]
    del arms
    torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--models", default="", help="comma-separated (default: the device's set)")
    parser.add_argument("--out", default="", help="results JSON (default: results/cost[_cuda])")
    args = parser.parse_args()
    if args.device == "cuda":
        names = args.models.split(",") if args.models else list(CUDA_MODELS)
        rows = [r for m in names for r in measure_cuda(m, args.steps)]
        _print_cuda(rows)
        _write(args.out or "cost_cuda", {"steps": args.steps, "device": "cuda", "rows": rows})
        return
    rows = [r for m in (args.models or ",".join(MODELS)).split(",") for r in measure(m, args.steps)]
    print_table(
        "Training step cost with taps (dks loss) vs baseline, 1 thread, interleaved steps, median",
        [
            "model",
            "adapter",
            "step",
            "time ratio (≤ 1.3)",
            "train memory",
            "of which activations",
            "memory ratio (≤ 1.3)",
        ],
        [
            [
                r["model"],
                r["arm"],
                f"{r['step_s'] * 1000:.1f} ms",
                f"{r['time_ratio']:.2f}×",
                f"{r['memory_mib']:.1f} MiB",
                f"{r['activations_mib']:.1f} MiB",
                f"{r['memory_ratio']:.2f}×",
            ]
            for r in rows
        ],
    )
    _write(args.out or "cost", {"steps": args.steps, "rows": rows})


def _write(out: str, data: dict) -> None:
    if out.endswith(".json"):
        Path(out).write_text(json.dumps(data, indent=1))
    else:
        write_results(out, data)


def _print_cuda(rows: list[dict]) -> None:
    print_table(
        "Training step cost on CUDA (bf16 autocast, dks loss) vs baseline, median",
        ["model", "adapter", "step", "time ratio (≤ 1.3)", "peak memory", "memory ratio (≤ 1.3)"],
        [
            [
                r["model"],
                r["arm"],
                f"{r['step_s'] * 1000:.1f} ms",
                f"{r['time_ratio']:.2f}×",
                f"{r['memory_mib']:.0f} MiB",
                f"{r['memory_ratio']:.2f}×",
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
