"""The paired-seed protocol of the classification benchmarks: arms × seeds, paired against a
baseline.

A *regime* is a model trained on one data set for a number of epochs. An *arm* says how it trains:
``recipe[@points][~adapter][:option=value...]``:

- ``recipe``: ``baseline``, ``dsn``, ``dks``, ``imachsr``, or ``auto`` (what a user gets without
  flags: ``deepsup.losses.resolve_recipe("auto", task)`` with its default options, and the
  baseline check: the run without heads trains too, and the result is the run the check keeps;
  ``auto:check_baseline=0`` is the heads alone);
- ``@points``: ``auto`` (the default), ``even`` (evenly spaced module outputs on the whole-signal
  path, as many as auto picks), ``random``, ``random2``, ... (independent seeded draws), or named
  points joined by ``+`` (``dks@layer2+layer3``);
- ``~adapter``: ``dks`` (the default) or ``light``;
- ``:option=value``: loss options (``deepsup.losses.READ_BY``), e.g. ``dsn:alpha_decay=1``.

Every (regime, arm, seed) trains once in its own process (one torch thread), seeds paired across
arms. Results carry a digest of ``tapfinder/`` and ``deepsup/``; ``--merge`` adds new arms to
earlier results files and runs again those made by other code, so paired arms share their code.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import RESULTS, ci95, pairable, print_table, run_version, write_results

__all__ = [
    "Regime",
    "parse_arm",
    "head_gradient_of",
    "harmed_seeds",
    "summarize",
    "with_check",
    "deepest_of",
    "main",
]

PROTOCOL_SEEDS = 5
CHANCE_MARGIN = 5.0  # a main head within this many points of chance "stays at chance"
TRAINS_ABOVE = 50.0  # a baseline above this accuracy "trains"
HARM_MARGIN = 2.0  # an arm more than this many points below a baseline that trains "harms" it


@dataclass(frozen=True)
class Regime:
    model: str  # a registered model (tapfinder.models)
    data: str  # a deepsup.data built-in set
    epochs: int
    arms: tuple


# arm options that are the trainer's, not the loss's (``baseline:clip_grad=1``)
TRAIN_OPTIONS = ("clip_grad", "lr", "aux_state")
# the trainer's defaults of these before results recorded them (``train`` in a result): gradients
# were not clipped until code 17c025017613, whose results are the first to record them
FORMER_TRAIN_DEFAULTS = {"clip_grad": 0.0, "lr": 1e-3, "aux_state": "shared"}
# trainer options that change nothing where no aux head trains: a baseline ignores them
AUX_ONLY_OPTIONS = ("aux_state",)


def trained_with(result: dict) -> dict:
    """The trainer settings of :data:`TRAIN_OPTIONS` a result ran with: as it records them, else
    its arm's options over :data:`FORMER_TRAIN_DEFAULTS`.

    >>> trained_with({"arm": "baseline:clip_grad=1"})
    {'clip_grad': 1.0, 'lr': 0.001, 'aux_state': 'shared'}
    >>> trained_with({"arm": "auto", "train": {"clip_grad": 1.0, "lr": 0.001}})["aux_state"]
    'shared'
    """
    if "train" in result:
        return {**FORMER_TRAIN_DEFAULTS, **result["train"]}
    return {**FORMER_TRAIN_DEFAULTS, **train_options_of(parse_arm(result["arm"])[3])}


def baseline_of(arm: str) -> str:
    """The arm an arm pairs with: ``baseline``, trained with the arm's trainer options (but those
    of :data:`AUX_ONLY_OPTIONS`).

    >>> baseline_of("dsn:alpha=0.3:clip_grad=1"), baseline_of("auto:aux_state=own")
    ('baseline:clip_grad=1', 'baseline')
    """
    kept = set(TRAIN_OPTIONS) - set(AUX_ONLY_OPTIONS)
    options = [o for o in arm.split(":")[1:] if o.partition("=")[0] in kept]
    return ":".join(["baseline", *options])


def train_options_of(options: dict) -> dict:
    """The trainer's settings among an arm's parsed ``options`` (:data:`TRAIN_OPTIONS`), taken out
    of them; the rest are the loss's.

    >>> options = {"alpha": 0.3, "clip_grad": 1.0}
    >>> train_options_of(options), options
    ({'clip_grad': 1.0}, {'alpha': 0.3})
    """
    return {k: options.pop(k) for k in TRAIN_OPTIONS if k in options}


def is_baseline(arm: str) -> bool:
    """Whether an arm trains without heads (its Δ against its own baseline is no result)."""
    return arm.split(":")[0] == "baseline"


def parse_arm(arm: str) -> tuple[str, str, str, dict]:
    """(recipe, points, adapter, loss options) of an arm name.

    >>> parse_arm("dsn@even~light:alpha=0.5:alpha_decay=1")
    ('dsn', 'even', 'light', {'alpha': 0.5, 'alpha_decay': True})
    >>> parse_arm("baseline")
    ('baseline', 'auto', 'dks', {})
    """
    head, *options = arm.split(":")
    head, _, adapter = head.partition("~")
    recipe, _, points = head.partition("@")
    parsed = {}
    for option in options:
        key, _, value = option.partition("=")
        parsed[key] = _value(key, value)
    return recipe, points or "auto", adapter or "dks", parsed


# arm options whose values are words, not numbers
_WORDS = ("direction", "dense", "schedule", "head_norm", "alpha_gate", "head_gradient", "aux_state")


def _value(key: str, text: str):
    if key in ("alpha_decay", "check_baseline"):
        return text not in ("0", "false", "False", "")
    if key in _WORDS:
        return text
    return float(text)


def head_gradient_of(options: dict, default: str) -> str:
    """The heads' gradient rule an arm's parsed ``options`` name (taken out of them), else
    ``default``; earlier results' ``aux_yields`` reads 1 as ``yield`` and 0 as ``full``.

    >>> options = {"aux_yields": 0.0, "alpha": 0.5}
    >>> head_gradient_of(options, "full"), options
    ('full', {'alpha': 0.5})
    """
    rule = options.pop("head_gradient", default)
    yields = options.pop("aux_yields", None)
    return rule if yields is None else ("yield" if yields else "full")


def _points(model, x, how: str, seed: int):
    from tapfinder import select_points

    auto = select_points(model, x)
    if how == "auto":
        return auto
    modules = dict(model.named_modules())
    whole = sorted(
        (auto.depths[n], n)
        for n in auto.whole
        if n in modules
        and auto.graph.nodes[n]["tf"].spatial
        and 0.05 <= auto.depths[n] / auto.depth <= 0.95
    )
    m = auto.m
    if "+" in how or how in modules:  # named points: dks@layer2+layer3
        return select_points(model, x, points=how.split("+"))
    if how.startswith("random"):  # random, random2, random3: independent draws for one seed
        draw = int(how[len("random") :] or 1)
        names = random.Random(seed + 1000 * (draw - 1)).sample([n for _, n in whole], m)
    else:  # evenly spaced along depth
        names = [
            min(whole, key=lambda dn: abs(dn[0] / auto.depth - (k + 1) / (m + 1)))[1]
            for k in range(m)
        ]
    return select_points(model, x, points=sorted(set(names), key=[n for _, n in whole].index))


def _curve(history: list[dict]) -> list[dict]:
    """Per epoch: every head's validation accuracy and the main head's training loss (for
    diagnosis)."""
    keep = ("epoch", "loss_main", "guard")
    return [
        {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in row.items()
            if k in keep or k.startswith(("val_acc_", "val_ce_"))
        }
        for row in history
    ]


def val_right(net, data) -> str:
    """Which validation samples the main head gets right, one ``0``/``1`` per sample in order
    (classification; empty otherwise): what lets a choice made on one part of the validation set
    be scored on the rest (``benchmarks/split_half.py``)."""
    import torch
    from torch.utils.data import DataLoader

    from deepsup.losses import main_logits
    from deepsup.trainer import call_model

    if data.task != "classification":
        return ""
    marks = []
    net.eval()
    with torch.no_grad():
        for x, y in DataLoader(data.val, batch_size=256):  # in order; tuple and dict inputs too
            marks += (main_logits(call_model(net, x)).argmax(1) == y).tolist()
    return "".join("1" if m else "0" for m in marks)


def _train(regime: Regime, data, arm: str, seed: int, epochs: int) -> tuple[list[dict], list, dict]:
    """(metrics rows, tap points, trainer settings) of one arm's run of one seed; the last row
    carries :func:`val_right` as ``right``."""
    import torch

    from deepsup.losses import make_loss, resolve_recipe
    from deepsup.trainer import TrainConfig, Trainer
    from tapfinder.models import get_model
    from tapfinder.taps import attach

    torch.manual_seed(seed)
    model, _ = get_model(regime.model, num_classes=data.num_classes)
    recipe, how, adapter, options = parse_arm(arm)
    train_options = train_options_of(options)
    options.pop("check_baseline", None)
    recipe = resolve_recipe(recipe, data.task)
    if recipe == "baseline":
        net, loss, points = model, make_loss("baseline", task=data.task), []
    else:
        example = torch.stack([data.train[i][0] for i in range(2)])  # its dtype too (tokens)
        sel = _points(model, example, how, seed)
        head_norm = options.pop("head_norm", "auto")
        net = attach(
            model,
            sel,
            task=data.task,
            num_classes=data.num_classes,
            adapter=adapter,
            head_norm=head_norm,
        )
        points = sel.names
        net.head_gradient = head_gradient_of(options, net.head_gradient)
        net.aux_grad = options.pop("aux_grad", 1.0)
        loss = make_loss(recipe, layouts=net.layouts, task=data.task, **options)
    cfg = TrainConfig(epochs=epochs, seed=seed, **train_options)
    hist = Trainer(
        net,
        loss,
        data.train,
        data.val,
        cfg,
        task=data.task,
        num_classes=data.num_classes,
    ).fit()
    hist[-1] = {**hist[-1], "right": val_right(net, data)}
    return hist, points, {k: getattr(cfg, k) for k in TRAIN_OPTIONS}


def checks_baseline(arm: str) -> bool:
    """Whether an arm trains as the CLI does with its baseline check (``deepsup.baseline_check``):
    ``auto`` does unless ``:check_baseline=0``; a named recipe does with ``:check_baseline=1``.

    >>> checks_baseline("auto"), checks_baseline("auto:check_baseline=0"), checks_baseline("dsn")
    (True, False, False)
    """
    recipe, _, _, options = parse_arm(arm)
    if recipe == "baseline":
        return False
    return bool(options.get("check_baseline", recipe == "auto"))


def deepest_of(arm: str, point: str) -> str:
    """The arm the check's retry trains: ``arm`` with ``point`` alone.

    >>> deepest_of("auto~light:alpha=0.5", "features.33")
    'auto@features.33~light:alpha=0.5'
    """
    head, *options = arm.split(":")
    head, _, adapter = head.partition("~")
    recipe = head.partition("@")[0]
    return ":".join([f"{recipe}@{point}" + (f"~{adapter}" if adapter else ""), *options])


def with_check(
    hist: list[dict], train_without_heads, points: list[str], train_deepest
) -> tuple[list[dict], object, list[dict], list[dict] | None]:
    """An arm's result as the CLI's default trains it (``deepsup.baseline_check.decide``):
    ``train_without_heads()`` (the same run without heads, its rows), and where the check retries
    ``train_deepest(point)``; then the rows of the run the check keeps, the choice, and the rows of
    the run without heads and of the retry (None without one)."""
    from deepsup.baseline_check import decide

    choice, baseline, deepest = decide(hist, train_without_heads, points, train_deepest)
    kept = {"heads": hist, "baseline": baseline, "deepest": deepest}[choice.kept]
    return kept, choice, baseline, deepest


def run_job(job) -> dict:
    regime_name, regime, arm, seed, epochs, version = job
    import torch

    torch.set_num_threads(1)
    from dataclasses import asdict

    from deepsup.data import load_data

    data = load_data(regime.data)
    start = time.perf_counter()
    hist, points, train = _train(regime, data, arm, seed, epochs)
    check = {}
    if checks_baseline(arm):
        heads = hist
        hist, choice, without, retried = with_check(
            heads,
            lambda: _train(regime, data, baseline_of(arm), seed, epochs)[0],
            points,
            lambda point: _train(regime, data, deepest_of(arm, point), seed, epochs)[0],
        )
        check = {
            "check": {
                **asdict(choice),
                "heads_curve": _curve(heads),
                "heads_right": heads[-1]["right"],
                "baseline_right": without[-1]["right"],
                **(
                    {"deepest_curve": _curve(retried), "deepest_right": retried[-1]["right"]}
                    if retried
                    else {}
                ),
            }
        }
    return dict(
        regime=regime_name,
        arm=arm,
        seed=seed,
        epochs=epochs,
        points=points,
        acc=100 * hist[-1]["val_acc_main"],
        best=100 * max(h["val_acc_main"] for h in hist),
        final={k: v for k, v in hist[-1].items() if k.startswith("val_")},
        seconds=round(time.perf_counter() - start, 1),
        curve=_curve(hist),
        right=hist[-1]["right"],
        train=train,
        **check,
        **version,
    )


def _paired_mean(results, regime, arm, draws) -> list[float]:
    """Per-seed ``arm`` minus the mean of the ``draws`` arms, over seeds where all ran with its
    code."""
    a = {r["seed"]: r for r in results if r["regime"] == regime and r["arm"] == arm}
    by = [{r["seed"]: r for r in results if r["regime"] == regime and r["arm"] == d} for d in draws]
    return [
        a[s]["acc"] - statistics.mean(b[s]["acc"] for b in by)
        for s in sorted(a)
        if all(s in b and b[s].get("code") == a[s].get("code") for b in by)
    ]


def _views(regime, auto, other, d) -> list[dict]:
    """All seeds, and the protocol seeds 0-4 when there are more (more seeds narrow the noise)."""
    views = [("all", d)] + ([("0-4", d[:PROTOCOL_SEEDS])] if len(d) > PROTOCOL_SEEDS else [])
    return [
        dict(
            regime=regime,
            auto=auto,
            other=other,
            seeds=seeds,
            diff=statistics.mean(x) if x else 0.0,
            ci95=ci95(x),
            wins=sum(v > 0 for v in x),
            ties=sum(v == 0 for v in x),
            n=len(x),
            per_seed=[round(v, 1) for v in x],
        )
        for seeds, x in views
    ]


def _harm(results, regime, arm, chance: float) -> dict:
    """The never-harm counts of an arm: seeds where the baseline trains (above 50 %) and the arm
    ends more than 2 points below it, and seeds where the arm's main head stays at chance."""
    base_arm = baseline_of(arm)
    base = {r["seed"]: r["acc"] for r in results if r["regime"] == regime and r["arm"] == base_arm}
    mine = {r["seed"]: r["acc"] for r in results if r["regime"] == regime and r["arm"] == arm}
    dead = [s for s, acc in mine.items() if acc < chance + CHANCE_MARGIN]
    return {"harmed": harmed_seeds(mine, base), "dead": sorted(dead)}


def harmed_seeds(arm: dict, baseline: dict) -> list:
    """The bar's never-harm rule, over ``{seed: accuracy}``: the seeds where ``baseline`` trains
    (above :data:`TRAINS_ABOVE`) and ``arm`` ends more than :data:`HARM_MARGIN` points below it."""
    return sorted(
        s
        for s, acc in arm.items()
        if s in baseline and baseline[s] > TRAINS_ABOVE and acc < baseline[s] - HARM_MARGIN
    )


def summarize(results: list[dict], chance: float = 10.0) -> tuple[list[dict], list[dict]]:
    """Each arm against its regime's baseline (:func:`baseline_of`: the one trained like it), and
    auto points against other placements of one recipe."""
    summary, placement = [], []
    for regime in dict.fromkeys(r["regime"] for r in results):
        arms = list(dict.fromkeys(r["arm"] for r in results if r["regime"] == regime))
        for arm in sorted(arms, key=lambda a: (not is_baseline(a), "@" in a, "~" in a, ":" in a)):
            accs = [r["acc"] for r in results if r["regime"] == regime and r["arm"] == arm]
            diffs = _paired_mean(results, regime, arm, [baseline_of(arm)])
            summary.append(
                dict(
                    regime=regime,
                    arm=arm,
                    mean=statistics.mean(accs),
                    std=statistics.pstdev(accs),
                    seeds=len(accs),
                    diff=statistics.mean(diffs) if diffs else 0.0,
                    ci95=ci95(diffs),
                    positive=sum(d > 0 for d in diffs),
                    n=len(diffs),
                    per_seed=[round(d, 1) for d in diffs],
                    **_harm(results, regime, arm, chance),
                )
            )
            recipe, _, how = arm.partition("@")
            if how and recipe in arms:
                placement += _views(
                    regime, recipe, arm, _paired_mean(results, regime, recipe, [arm])
                )
        for recipe in [a for a in arms if "@" not in a and "~" not in a]:
            draws = sorted(a for a in arms if a.startswith(f"{recipe}@random"))
            if len(draws) > 1:
                placement += _views(
                    regime,
                    recipe,
                    f"{recipe}@random (mean of {len(draws)} draws)",
                    _paired_mean(results, regime, recipe, draws),
                )
    return summary, placement


SUMMARY_COLUMNS = (
    "regime",
    "arm",
    "accuracy",
    "seeds",
    "Δ vs baseline (95% CI)",
    "better",
    "harmed",
    "dead",
    "per-seed Δ",
)


def summary_row(s: dict, arm: str | None = None) -> list:
    """One :func:`summarize` entry as a row under :data:`SUMMARY_COLUMNS` (``arm``: how to write
    its name); a baseline's Δ against itself is left blank."""
    blank = is_baseline(s["arm"])
    return [
        s["regime"],
        s["arm"] if arm is None else arm,
        f"{s['mean']:.1f} ± {s['std']:.1f}",
        s["seeds"],
        "" if blank else f"{s['diff']:+.1f} ± {s['ci95']:.1f}",
        "" if blank else f"{s['positive']}/{s['n']}",
        len(s["harmed"]),
        len(s["dead"]),
        "" if blank else " ".join(f"{d:+.1f}" for d in s["per_seed"]),
    ]


def print_summary(summary: list[dict], placement: list[dict], title: str) -> None:
    print_table(title, list(SUMMARY_COLUMNS), [summary_row(s) for s in summary])
    if placement:
        print_table(
            "Auto points against other placements (same recipe, same count, paired seeds)",
            [
                "regime",
                "auto",
                "other",
                "seeds",
                "auto − other (95% CI)",
                "auto better (tied)",
                "per-seed",
            ],
            [
                [
                    p["regime"],
                    p["auto"],
                    p["other"],
                    p["seeds"],
                    f"{p['diff']:+.1f} ± {p['ci95']:.1f}",
                    f"{p['wins']}/{p['n']} ({p.get('ties', 0)})",
                    " ".join(f"{d:+.1f}" for d in p["per_seed"]),
                ]
                for p in placement
            ],
        )


def main(regimes: dict[str, Regime], default_regimes: str, default_name: str, doc: str) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=PROTOCOL_SEEDS)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds run from here (add seeds to a --merge)"
    )
    parser.add_argument(
        "--seed-list", default="", help="comma-separated seeds instead of --first-seed/--seeds"
    )
    parser.add_argument("--epochs", type=int, default=None, help="instead of each regime's own")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--regimes", default=default_regimes, help=f"comma-separated, from {', '.join(regimes)}"
    )
    parser.add_argument(
        "--arms", default="", help="comma-separated arms instead of the defaults, e.g. dks~light"
    )
    parser.add_argument(
        "--merge", default="", help="comma-separated results JSONs of earlier runs to add to"
    )
    parser.add_argument(
        "--name", default=default_name, help="results file name under benchmarks/results/"
    )
    args = parser.parse_args()
    chosen = [r for r in args.regimes.split(",") if r]
    if set(chosen) - set(regimes):
        parser.error(
            f"unknown regime {', '.join(sorted(set(chosen) - set(regimes)))}; pick from "
            f"{', '.join(regimes)}"
        )
    version = run_version()
    earlier, epochs = [], {}
    for path in filter(None, args.merge.split(",")):
        merged = json.loads(Path(path).read_text())
        earlier += merged["results"]
        epochs.update(merged.get("epochs", {}))
    earlier = pairable(earlier, version)  # other code's or CPU's results do not pair
    firsts: dict[tuple, dict] = {}  # one result per (regime, arm, seed): the first file wins
    for x in earlier:
        firsts.setdefault((x["regime"], x["arm"], x["seed"]), x)
    earlier, done = list(firsts.values()), set(firsts)
    arms = {r: (args.arms.split(",") if args.arms else list(regimes[r].arms)) for r in chosen}
    seeds = (
        [int(s) for s in args.seed_list.split(",")]
        if args.seed_list
        else range(args.first_seed, args.first_seed + args.seeds)
    )
    jobs = [
        (r, regimes[r], a, s, args.epochs or regimes[r].epochs, version)
        for r in chosen
        for a in arms[r]
        for s in seeds
        if (r, a, s) not in done
    ]
    results = list(earlier)
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(run_job, jobs):
            results.append(r)
            print(
                f"  {r['regime']:8s} {r['arm']:14s} seed {r['seed']}: {r['acc']:.1f}% "
                f"({r['seconds']} s) "
                f"{','.join(r['points'])}",
                flush=True,
            )
            write_results(f"{args.name}.partial", {"results": results}, quiet=True)
    summary, placement = summarize(results)
    epochs.update({r: args.epochs or regimes[r].epochs for r in chosen})
    print_summary(
        summary,
        placement,
        f"Final validation accuracy of the main head, paired seeds (epochs {epochs})",
    )
    (RESULTS / f"{args.name}.partial.json").unlink(missing_ok=True)  # the whole run is saved below
    write_results(
        args.name,
        {
            "epochs": epochs,
            **version,
            "results": results,
            "summary": summary,
            "placement": placement,
        },
    )
