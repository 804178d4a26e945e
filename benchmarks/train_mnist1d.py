"""Does deep supervision at automatically chosen points help? MNIST-1D, paired seeds, three regimes.

Regime "plain": ``plain1d48`` (48 conv3 × 32, stride 2 after layers 16 and 32, no normalization,
Kaiming init), where plain training struggles. Regime "bn": ``plain1d20_bn`` (20 layers with
BatchNorm), where plain training works and deep supervision should not hurt. Regime "resnet":
``resnet1d32`` (He et al.'s CIFAR ResNet-32 with 1D convolutions), the ResNet regime.
In these three the stages are even, so evenly spaced points land on (or next to) the stage outputs
that auto picks. Regimes "plain34" (``plain1d34``) and "resnet34" (``resnet1d34``) take He et al.'s
34-layer layout, stages of 3, 4, 6, 3 blocks, uneven as in most real networks, where the placements
differ: ``--regimes plain34,resnet34 --name train_mnist1d_uneven`` (stored with the earlier first-and-
last picks and two mixed pairs as named arms, and seeds 5-9 on the plain net, where seeds 0-4 alone
had auto 1.9 points under even and seeds 5-9 have it 1.0 over: it ties even and random on both).
Arms: baseline, dsn, dks, imachsr with auto points; in the plain and ResNet regimes also dks with
random points (same count, seeded, drawn from the module outputs on the whole signal path) and with
evenly spaced points. ``dks@random2``, ``dks@random3``, ... are further random draws for the same
seed; with several, auto is also compared with their per-seed mean (what random placement gives on
average, with less of one draw's luck). ``recipe@points~adapter`` names other arms, e.g.
``dks~light`` (the light 1×1-conv heads) or ``dks@layer2+layer3`` (heads at named points).
``--merge`` adds new arms to earlier results files; their results from other code (told by a
digest of ``tapfinder/`` and ``deepsup/``) are run again, so paired arms share their code.
Adam, OneCycle (max lr 1e-3), batch 128, 20 epochs, seeds 0..4 paired across arms; one torch thread
per run, runs in parallel processes.

    python benchmarks/train_mnist1d.py [--seeds 5] [--epochs 20] [--workers 2] [--regimes plain,bn,resnet]
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
from benchmarks._common import RESULTS, ci95, code_version, print_table, same_code, write_results  # noqa: E402

ARMS = {"plain": ["baseline", "dsn", "dks", "imachsr", "dks@random", "dks@even"],
        "bn": ["baseline", "dsn", "dks", "imachsr"],
        "resnet": ["baseline", "dsn", "dks", "imachsr", "dks@random", "dks@even"],
        "plain34": ["baseline", "dks", "dks@random", "dks@even"],
        "resnet34": ["baseline", "dks", "dks@random", "dks@even"]}
PROTOCOL_SEEDS = 5
MODELS = {"plain": "plain1d48", "bn": "plain1d20_bn", "resnet": "resnet1d32", "plain34": "plain1d34",
          "resnet34": "resnet1d34"}


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
    if "+" in how or how in modules:   # named points: dks@layer2+layer3
        return select_points(model, x, points=how.split("+"))
    if how.startswith("random"):   # random, random2, random3: independent draws for one seed
        draw = int(how[len("random"):] or 1)
        names = random.Random(seed + 1000 * (draw - 1)).sample([n for _, n in whole], m)
    else:   # evenly spaced along depth
        names = [min(whole, key=lambda dn: abs(dn[0] / auto.depth - (k + 1) / (m + 1)))[1] for k in range(m)]
    return select_points(model, x, points=sorted(set(names), key=[n for _, n in whole].index))


def _run(job):
    regime, arm, seed, epochs, version = job
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
                best=100 * max(h["val_acc_main"] for h in hist), seconds=round(time.perf_counter() - start, 1),
                **version)


def _paired(results, regime, arm, against):
    """Per-seed differences ``arm - against`` over the seeds both ran with the same code."""
    return _paired_mean(results, regime, arm, [against])


def summarize(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """Each arm against its regime's baseline, and auto points against other placements of one recipe."""
    summary, placement = [], []
    for regime in dict.fromkeys(r["regime"] for r in results):
        arms = list(dict.fromkeys(r["arm"] for r in results if r["regime"] == regime))
        for arm in sorted(arms, key=lambda a: (a != "baseline", "@" in a, "~" in a)):
            accs = [r["acc"] for r in results if r["regime"] == regime and r["arm"] == arm]
            diffs = _paired(results, regime, arm, "baseline")
            summary.append(dict(regime=regime, arm=arm, mean=statistics.mean(accs), std=statistics.pstdev(accs),
                                seeds=len(accs), diff=statistics.mean(diffs) if diffs else 0.0,
                                positive=sum(d > 0 for d in diffs), n=len(diffs), per_seed=[round(d, 1) for d in diffs]))
            recipe, _, how = arm.partition("@")
            if how and recipe in arms:
                placement += _views(regime, recipe, arm, _paired(results, regime, recipe, arm))
        for recipe in [a for a in arms if "@" not in a and "~" not in a]:
            draws = sorted(a for a in arms if a.startswith(f"{recipe}@random"))
            if len(draws) > 1:
                placement += _views(regime, recipe, f"{recipe}@random (mean of {len(draws)} draws)",
                                    _paired_mean(results, regime, recipe, draws))
    return summary, placement


def _views(regime, auto, other, d) -> list[dict]:
    """All seeds, and the issue's protocol seeds 0-4 when there are more (more seeds narrow the noise)."""
    views = [("all", d)] + ([("0-4", d[:PROTOCOL_SEEDS])] if len(d) > PROTOCOL_SEEDS else [])
    return [dict(regime=regime, auto=auto, other=other, seeds=seeds, diff=statistics.mean(x) if x else 0.0,
                 ci95=ci95(x), wins=sum(v > 0 for v in x), ties=sum(v == 0 for v in x), n=len(x),
                 per_seed=[round(v, 1) for v in x]) for seeds, x in views]


def _paired_mean(results, regime, arm, draws) -> list[float]:
    """Per-seed ``arm`` minus the mean of the ``draws`` arms, over seeds where all ran with its code."""
    a = {r["seed"]: r for r in results if r["regime"] == regime and r["arm"] == arm}
    by = [{r["seed"]: r for r in results if r["regime"] == regime and r["arm"] == d} for d in draws]
    return [a[s]["acc"] - statistics.mean(b[s]["acc"] for b in by) for s in sorted(a)
            if all(s in b and b[s].get("code") == a[s].get("code") for b in by)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (add seeds to a --merge)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--regimes", default="plain,bn,resnet")
    parser.add_argument("--arms", default="", help="comma-separated arms instead of the defaults, e.g. dks~light")
    parser.add_argument("--merge", default="", help="comma-separated results JSONs of earlier runs to add to")
    parser.add_argument("--name", default="train_mnist1d", help="results file name under benchmarks/results/")
    args = parser.parse_args()
    regimes = [r for r in args.regimes.split(",") if r]
    if set(regimes) - set(MODELS):
        parser.error(f"unknown regime {', '.join(sorted(set(regimes) - set(MODELS)))}; pick from {', '.join(MODELS)}")
    if args.arms:
        for r in regimes:
            ARMS[r] = args.arms.split(",")
    version = code_version()
    earlier = []
    for path in filter(None, args.merge.split(",")):
        import json
        earlier += json.loads(Path(path).read_text())["results"]
    earlier = same_code(earlier, version)   # a result of other code is not paired with this code's
    firsts: dict[tuple, dict] = {}   # one result per (regime, arm, seed): the first file wins
    for x in earlier:
        firsts.setdefault((x["regime"], x["arm"], x["seed"]), x)
    earlier, done = list(firsts.values()), set(firsts)
    jobs = [(r, a, s, args.epochs, version) for r in regimes for a in ARMS[r]
            for s in range(args.first_seed, args.first_seed + args.seeds) if (r, a, s) not in done]
    results = list(earlier)
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(_run, jobs):
            results.append(r)
            print(f"  {r['regime']:6s} {r['arm']:11s} seed {r['seed']}: {r['acc']:.1f}% ({r['seconds']} s) "
                  f"{','.join(r['points'])}", flush=True)
            write_results(f"{args.name}.partial", {"epochs": args.epochs, "results": results}, quiet=True)
    summary, placement = summarize(results)
    print_table(f"MNIST-1D, final test accuracy, paired seeds, {args.epochs} epochs",
                ["regime", "arm", "accuracy", "seeds", "Δ vs baseline", "seeds better", "per-seed Δ"],
                [[s["regime"], s["arm"], f"{s['mean']:.1f} ± {s['std']:.1f}", s["seeds"], f"{s['diff']:+.1f}",
                  f"{s['positive']}/{s['n']}", " ".join(f"{d:+.1f}" for d in s["per_seed"])] for s in summary])
    if placement:
        print_table("Auto points against other placements (same recipe, same count, paired seeds)",
                    ["regime", "auto", "other", "seeds", "auto − other (95% CI)", "auto better (tied)", "per-seed"],
                    [[p["regime"], p["auto"], p["other"], p["seeds"], f"{p['diff']:+.1f} ± {p['ci95']:.1f}",
                      f"{p['wins']}/{p['n']} ({p.get('ties', 0)})",
                      " ".join(f"{d:+.1f}" for d in p["per_seed"])] for p in placement])
    (RESULTS / f"{args.name}.partial.json").unlink(missing_ok=True)   # the whole run is saved below
    write_results(args.name, {"epochs": args.epochs, **version, "results": results, "summary": summary,
                              "placement": placement})


if __name__ == "__main__":
    main()
