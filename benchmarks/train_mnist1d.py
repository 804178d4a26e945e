"""Does deep supervision at automatically chosen points help? MNIST-1D, paired seeds, two regimes.

Regime "plain": ``plain1d48`` (48 conv3 × 32, stride 2 after layers 16 and 32, no normalization,
Kaiming init), where plain training struggles. Regime "bn": ``plain1d20_bn`` (20 layers with
BatchNorm), where plain training works and deep supervision should not hurt.
Arms: baseline, dsn, dks, imachsr with auto points; in the plain regime also dks with random points
(same count, seeded) and with evenly spaced points. ``recipe@points~adapter`` names other arms, e.g.
``dks~light`` (the light 1×1-conv heads); ``--merge`` adds new arms to an earlier results file. Adam, OneCycle (max lr 1e-3), batch 128, 20
epochs, seeds 0..4 paired across arms; one torch thread per run, runs in parallel processes.

    python benchmarks/train_mnist1d.py [--seeds 5] [--epochs 20] [--workers 2]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import print_table, write_results  # noqa: E402

ARMS = {"plain": ["baseline", "dsn", "dks", "imachsr", "dks@random", "dks@even"],
        "bn": ["baseline", "dsn", "dks", "imachsr"]}
MODELS = {"plain": "plain1d48", "bn": "plain1d20_bn"}


def _points(model, x, how: str, seed: int):
    from tapfinder import select_points

    auto = select_points(model, x)
    if how == "auto":
        return auto
    modules = dict(model.named_modules())
    whole = sorted((attrs["tf"]["depth"], n) for n, attrs in auto.graph.nodes(data=True)
                   if attrs["tf"].get("whole") and n in modules and attrs["tf"].get("spatial")
                   and 0.05 <= attrs["tf"]["depth"] / auto.depth <= 0.95)
    m = auto.m
    if how == "random":
        names = random.Random(seed).sample([n for _, n in whole], m)
    else:   # evenly spaced along depth
        names = [min(whole, key=lambda dn: abs(dn[0] / auto.depth - (k + 1) / (m + 1)))[1] for k in range(m)]
    return select_points(model, x, points=sorted(set(names), key=[n for _, n in whole].index))


def _run(job):
    regime, arm, seed, epochs = job
    import torch

    torch.set_num_threads(1)
    from deepsup.data import load_data
    from deepsup.losses import make_loss
    from deepsup.trainer import TrainConfig, Trainer
    from tapfinder.models import get_model
    from tapfinder.taps import attach

    data = load_data("mnist1d")
    torch.manual_seed(seed)
    model, shape = get_model(MODELS[regime])
    arm_points, _, adapter = arm.partition("~")
    recipe, _, how = arm_points.partition("@")
    if recipe == "baseline":
        net, loss, points = model, make_loss("baseline"), []
    else:
        sel = _points(model, torch.randn(*shape), how or "auto", seed)
        net, points = attach(model, sel, num_classes=10, adapter=adapter or "dks"), sel.names
        loss = make_loss(recipe, layouts=["channels_first"] * len(points))
    start = time.perf_counter()
    hist = Trainer(net, loss, data.train, data.val, TrainConfig(epochs=epochs, seed=seed)).fit()
    return dict(regime=regime, arm=arm, seed=seed, points=points, acc=100 * hist[-1]["val_acc_main"],
                best=100 * max(h["val_acc_main"] for h in hist), seconds=round(time.perf_counter() - start, 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--regimes", default="plain,bn")
    parser.add_argument("--arms", default="", help="comma-separated arms instead of the defaults, e.g. dks~light")
    parser.add_argument("--merge", default="", help="a results JSON of an earlier run to compare against")
    args = parser.parse_args()
    if args.arms:
        for r in args.regimes.split(","):
            ARMS[r] = [a for a in args.arms.split(",")]
    earlier = []
    if args.merge:
        import json
        earlier = json.loads(Path(args.merge).read_text())["results"]
        for r in args.regimes.split(","):
            ARMS[r] = list(dict.fromkeys([x["arm"] for x in earlier if x["regime"] == r] + ARMS[r]))
    done = {(x["regime"], x["arm"], x["seed"]) for x in earlier}
    jobs = [(r, a, s, args.epochs) for r in args.regimes.split(",") for a in ARMS[r] for s in range(args.seeds)
            if (r, a, s) not in done]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = list(earlier)
        for r in pool.imap_unordered(_run, jobs):
            results.append(r)
            print(f"  {r['regime']:5s} {r['arm']:11s} seed {r['seed']}: {r['acc']:.1f}% ({r['seconds']} s) "
                  f"{','.join(r['points'])}", flush=True)
    summary = []
    for regime in args.regimes.split(","):
        base = {r["seed"]: r["acc"] for r in results if r["regime"] == regime and r["arm"] == "baseline"}
        for arm in ARMS[regime]:
            accs = {r["seed"]: r["acc"] for r in results if r["regime"] == regime and r["arm"] == arm}
            diffs = [accs[s] - base[s] for s in sorted(accs) if s in base]
            summary.append(dict(regime=regime, arm=arm, mean=statistics.mean(accs.values()),
                                std=statistics.pstdev(accs.values()), diff=statistics.mean(diffs) if diffs else 0.0,
                                positive=sum(d > 0 for d in diffs), n=len(diffs),
                                per_seed=[round(d, 1) for d in diffs]))
    print_table(f"MNIST-1D, final test accuracy, {args.seeds} paired seeds, {args.epochs} epochs",
                ["regime", "arm", "accuracy", "Δ vs baseline", "seeds better", "per-seed Δ"],
                [[s["regime"], s["arm"], f"{s['mean']:.1f} ± {s['std']:.1f}", f"{s['diff']:+.1f}",
                  f"{s['positive']}/{s['n']}", " ".join(f"{d:+.1f}" for d in s["per_seed"])] for s in summary])
    write_results("train_mnist1d", {"epochs": args.epochs, "results": results, "summary": summary})


if __name__ == "__main__":
    main()
