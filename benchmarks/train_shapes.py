"""Deep supervision for segmentation: the small UNet on the generated shapes set, baseline vs taps.

The UNet's auto points are its decoder stages (``dec3``, ``dec2``); heads are FCN heads whose
logits are upsampled to the target. ``--points enc1,enc3`` runs the taps elsewhere (the encoder
skip sources, say; ``results/train_shapes_encoder_points.json``); ``recipe~light`` uses the light
1×1 heads, ``dks/top-down`` one synergy direction,
``imachsr:head_gradient=balance:aux_state=shared`` heads whose gradient into the model is at most
the model's own there (``TappedModel.head_gradient``; it reads the main loss's gradient, so it
takes the shared optimizer state).
``auto`` trains as the CLI's default does: its recipe (``imachsr`` here), then the baseline check
(``deepsup.baseline_check``), the result being the run the check keeps.
``--merge`` adds to earlier results (those of other code are run again; pairs share their code).
Two schedules are stored: 15 epochs (``train_shapes.json``, where the baseline has converged) and
5 epochs (``--epochs 5 --name train_shapes_5epochs``, where it has not). Adam, OneCycle (max lr
3e-3), batch 32, paired seeds, mIoU on the held-out set.

    python benchmarks/train_shapes.py [--seeds 3] [--epochs 15] [--workers 2] [--arms baseline,dsn]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, pairable, print_table, run_version, write_results  # noqa: E402
from benchmarks.paired import (  # noqa: E402  (as train_images reads arms)
    _value,
    baseline_of,
    checks_baseline,
    head_gradient_of,
    train_options_of,
    with_check,
)

ARMS = ("baseline", "dsn", "dks", "imachsr")


def _train(arm: str, seed: int, epochs: int, points: list) -> tuple[list[dict], list]:
    """(metrics rows, tap points) of one arm's run of one seed."""
    arm_name, *options = arm.split(":")  # imachsr:head_gradient=full (aux_yields=0/1: earlier arms)
    options = {key: _value(key, value) for key, _, value in (o.partition("=") for o in options)}
    train_options = train_options_of(options)
    options.pop("check_baseline", None)
    recipe, _, adapter = arm_name.partition("~")
    recipe, _, direction = recipe.partition("/")  # dks/top-down: DKS synergy in one direction
    import torch

    from deepsup.losses import make_loss, resolve_recipe
    from deepsup.shapes_data import shapes_dataset
    from deepsup.trainer import TrainConfig, Trainer
    from tapfinder import select_points
    from tapfinder.models import get_model
    from tapfinder.taps import attach

    recipe = resolve_recipe(recipe, "segmentation")
    data = shapes_dataset()
    torch.manual_seed(seed)
    model, shape = get_model("unet_small")
    if recipe == "baseline":
        net, loss, points = model, make_loss("baseline"), []
    else:
        sel = select_points(model, torch.randn(*shape), points=points or "auto")
        net = attach(model, sel, task="segmentation", num_classes=5, adapter=adapter or "dks")
        net.head_gradient = head_gradient_of(options, net.head_gradient)
        points, loss = (
            sel.names,
            make_loss(
                recipe,
                layouts=["channels_first"] * sel.m,
                **({"direction": direction} if direction else {}),
            ),
        )
    cfg = TrainConfig(
        **{"epochs": epochs, "batch_size": 32, "lr": 3e-3, "seed": seed, **train_options}
    )
    hist = Trainer(net, loss, data.train, data.val, cfg, task="segmentation", num_classes=5).fit()
    return hist, points


def _run(job):
    arm, seed, epochs, points, version = job
    import torch

    torch.set_num_threads(1)
    from dataclasses import asdict

    start = time.perf_counter()
    hist, names = _train(arm, seed, epochs, points)
    check = {}
    if checks_baseline(arm):
        hist, choice, _, _ = with_check(
            hist,
            lambda: _train(baseline_of(arm), seed, epochs, points)[0],
            names,
            lambda point: _train(arm, seed, epochs, [point])[0],
        )
        check = {"check": asdict(choice), "miou_heads": 100 * choice.score_heads}
    return dict(
        arm=arm,
        seed=seed,
        points=names,
        miou=100 * hist[-1]["val_miou"],
        seconds=round(time.perf_counter() - start, 1),
        loss_main=[round(row["loss_main"], 4) for row in hist],
        **check,
        **version,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--points", default="", help="comma-separated point names instead of auto")
    parser.add_argument(
        "--merge", default="", help="comma-separated results JSONs of earlier runs to add to"
    )
    parser.add_argument(
        "--name", default="train_shapes", help="results file name under benchmarks/results/"
    )
    args = parser.parse_args()
    version = run_version()
    earlier = [
        r
        for path in filter(None, args.merge.split(","))
        for r in json.loads(Path(path).read_text())["results"]
    ]
    earlier = pairable(earlier, version)  # other code's or CPU's results do not pair
    arms = list(dict.fromkeys(["baseline", *(r["arm"] for r in earlier), *args.arms.split(",")]))
    points = [p for p in args.points.split(",") if p]
    done = {(r["arm"], r["seed"]) for r in earlier}
    jobs = [
        (a, s, args.epochs, points, version)
        for a in args.arms.split(",")
        for s in range(args.seeds)
        if (a, s) not in done
    ]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = list(earlier)
        for r in pool.imap_unordered(_run, jobs):
            results.append(r)
            print(
                f"  {r['arm']:8s} seed {r['seed']}: mIoU {r['miou']:.1f} ({r['seconds']} s) "
                f"{','.join(r['points'])}",
                flush=True,
            )
            write_results(
                f"{args.name}.partial", {"epochs": args.epochs, "results": results}, quiet=True
            )
    rows = []
    for arm in arms:
        v = {r["seed"]: r for r in results if r["arm"] == arm}
        if not v:
            continue
        base_arm = baseline_of(arm)
        base = {r["seed"]: r for r in results if r["arm"] == base_arm}
        diffs = [
            v[s]["miou"] - base[s]["miou"]
            for s in sorted(v)
            if s in base and v[s].get("code") == base[s].get("code")
        ]
        mious = [r["miou"] for r in v.values()]
        rows.append(
            [
                arm,
                f"{statistics.mean(mious):.1f} ± {statistics.pstdev(mious):.1f}",
                f"{statistics.mean(diffs):+.1f}" if diffs else "no baseline run",
                f"{sum(d > 0 for d in diffs)}/{len(diffs)}",
                " ".join(f"{d:+.1f}" for d in diffs),
            ]
        )
    print_table(
        f"Shapes segmentation (UNet), mIoU, paired seeds, {args.epochs} epochs",
        ["arm", "mIoU", "Δ vs baseline", "seeds better", "per-seed Δ"],
        rows,
    )
    (RESULTS / f"{args.name}.partial.json").unlink(missing_ok=True)  # the whole run is saved below
    write_results(args.name, {"epochs": args.epochs, **version, "results": results, "rows": rows})


if __name__ == "__main__":
    main()
