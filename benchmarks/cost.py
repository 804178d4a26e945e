"""Cost of deep supervision: training step time and peak memory with taps vs the plain model.

Each configuration runs in its own fresh process (one torch thread) so peak memory is comparable:
the peak resident-set growth over the training steps, after the model, data and optimizer exist.
Ratios are taken against the baseline measured in the same run. Configurations: the baseline, the
auto points with the light adapter, and with the heavy DKS adapter, each with the dks loss.

    python benchmarks/cost.py [--steps 30]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import print_table, write_results  # noqa: E402

MODELS = {"plain1d48": (128, (1, 40), 10), "cifar_resnet32": (128, (3, 32, 32), 100), "resnet18": (32, (3, 64, 64), 1000)}


def _measure(model_name: str, arm: str, steps: int) -> dict:
    import resource
    import time

    import torch

    from deepsup.losses import make_loss
    from tapfinder import select_points
    from tapfinder.sources import load_model
    from tapfinder.taps import attach

    torch.set_num_threads(1)
    torch.manual_seed(0)
    batch, shape, classes = MODELS[model_name]
    model = load_model(model_name).model
    x, y = torch.randn(batch, *shape), torch.randint(0, classes, (batch,))
    if arm == "baseline":
        net, loss = model, make_loss("baseline")
    else:
        sel = select_points(model, x[:2])
        net = attach(model, sel, num_classes=classes, adapter=arm)
        loss = make_loss("dks", layouts=["channels_first"] * sel.m)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        total, _ = loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    step()   # warm-up: allocator and optimizer state exist after this
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"step_s": times[len(times) // 2], "peak_mib": peak / 1024, "growth_mib": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(*args.one, args.steps)))
        return
    rows = []
    for model in MODELS:
        base = None
        for arm in ("baseline", "light", "dks"):
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--one", model, arm],
                                 capture_output=True, text=True, check=True)
            r = {"model": model, "arm": arm, **json.loads(out.stdout.strip().splitlines()[-1])}
            base = base or r
            r["time_ratio"] = r["step_s"] / base["step_s"]
            r["memory_ratio"] = r["peak_mib"] / base["peak_mib"]
            rows.append(r)
    print_table("Training step cost with taps (dks loss) vs baseline, 1 thread, median step",
                ["model", "adapter", "step", "time ratio (≤ 1.3)", "peak RSS", "memory ratio (≤ 1.3)"],
                [[r["model"], r["arm"], f"{r['step_s'] * 1000:.1f} ms", f"{r['time_ratio']:.2f}×",
                  f"{r['peak_mib']:.0f} MiB", f"{r['memory_ratio']:.2f}×"] for r in rows])
    write_results("cost", {"rows": rows})


if __name__ == "__main__":
    main()
