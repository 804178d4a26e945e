"""Write ``benchmarks/README.md``: every measured table, generated from ``benchmarks/results/``.

The page is the one place measured numbers live; a rerun of a benchmark rewrites its JSON, and
this script (run by hand, checked by ``tests/test_benchmark_report.py``) rewrites the page.

    python benchmarks/report.py [--check]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, ci95  # noqa: E402
from benchmarks.paired import (  # noqa: E402
    AUX_ONLY_OPTIONS,
    SUMMARY_COLUMNS,
    TRAINS_ABOVE,
    baseline_of,
    harmed_seeds,
    is_baseline,
    summarize,
    summary_row,
    trained_with,
)

PAGE = Path(__file__).parent / "README.md"
# what the default tables ran with, and the tables they replaced (kept as ``*_shared.json``)
_TODAY = (
    "today's defaults (gradients clipped at norm 1, the aux terms on an optimizer state of their "
    "own)"
)
_SHARED = "the former default (one optimizer state for the summed loss, `aux_state=shared`)"
_CLASSIFICATION = (
    (
        "checked_mnist1d",
        f"MNIST-1D, plain1d48 over 20 seeds, {_TODAY}: `auto` is the default as the CLI trains it "
        "(dsn, α 1, lead gate, then the baseline check; its result is the run the check keeps)",
    ),
    (
        "checked_digits",
        f"Real handwritten digits at 8×8, plain2d40 over 10 seeds, {_TODAY}: `auto` is the default "
        "as the CLI trains it (dsn, α 1, lead gate, then the baseline check; its result is the run "
        "the check keeps)",
    ),
    (
        "train_mnist1d",
        f"MNIST-1D, even stages (plain1d48 over 20 seeds, plain1d20_bn, resnet1d32), {_TODAY}: "
        "`auto` is dsn, α 1, lead gate",
    ),
    (
        "train_mnist1d_shared",
        f"MNIST-1D, even stages, {_SHARED}: `auto` is dsn, α 1, lead gate, `auto@features.40` "
        "plain1d48's tail point alone",
    ),
    (
        "train_mnist1d_plain10",
        "MNIST-1D, plain1d48 over 10 seeds: the default before the tail point (`auto`) and a null "
        "control (`dsn:alpha=0.001:alpha_gate=none`, a perturbation of the trajectory, not a "
        "recipe), on another machine than `train_mnist1d_tail.json` (its baselines differ)",
    ),
    (
        "train_mnist1d_uneven",
        f"MNIST-1D, He et al.'s uneven 34-layer stages (plain1d34, resnet1d34), {_TODAY}; `auto` "
        "is dsn, α 1, lead gate (plain1d34's short tail gets no tail point)",
    ),
    (
        "train_mnist1d_uneven_shared",
        f"MNIST-1D's uneven nets, {_SHARED}",
    ),
    (
        "train_images_plain",
        "Real digits, the norm-free plain2d40 (plain-mnist): the screens that chose the default "
        "(today's default is in `train_images.json`)",
    ),
    (
        "train_mnist1d_headnorm",
        "MNIST-1D, plain1d48: heads without BatchNorm (the default on a norm-free net) and with it",
    ),
    (
        "train_sequences",
        f"Sequences, {_TODAY}: gpt_char on the text set (per-token), lstm1d4 on MNIST-1D; `auto` "
        "is dsn, α 1, lead gate",
    ),
    (
        "train_sequences_shared",
        f"Sequences, {_SHARED}",
    ),
    (
        "train_images",
        f"Real handwritten digits (mnist5k), {_TODAY}: plain2d40 over 20 seeds, plain2d40_bn "
        "over 10, resnet2d38 over 5; `auto` is dsn, α 1, lead gate (with plain2d40's tail point "
        "`features.33`)",
    ),
    (
        "train_digits",
        f"Real handwritten digits at 8×8 (scikit-learn's `digits`, resized to 28×28), {_TODAY}: "
        "plain2d40, plain2d40_bn and resnet2d38 over 10 seeds each; no default was chosen on "
        "this set",
    ),
    (
        "train_images_shared",
        f"Real handwritten digits, {_SHARED}: plain2d40 over 20 seeds, plain2d40_bn over 10, "
        "resnet2d38 over 8",
    ),
    (
        "train_images_plain20",
        "Real digits, plain2d40 over 20 seeds: the default before the tail point (`auto`) and a "
        "null control (`dsn:alpha=0.001:alpha_gate=none`, a perturbation of the trajectory, not "
        "a recipe), on another machine than `train_images_tail.json` (its baselines differ)",
    ),
    (
        "train_mnist1d_tail",
        "MNIST-1D without gradient clipping (the trainer's former default): `auto` is today's "
        "recipe (plain1d48 with its tail point `features.40`), `auto@features.15+features.31` the "
        "points without it, `dsn:alpha=0.001:alpha_gate=none` the null control; plain1d20_bn, "
        "resnet1d32 and the uneven plain1d34 and resnet1d34 with the default",
    ),
    (
        "train_images_tail",
        "Real digits without gradient clipping (the trainer's former default): plain2d40 over 30 "
        "seeds (20 for the former points), `auto` today's recipe (with the tail point "
        "`features.33`), `auto@features.12+features.25` the points without it, "
        "`dsn:alpha=0.001:alpha_gate=none` the null control; plain2d40_bn (bn-mnist) and "
        "resnet2d38 (res-mnist) with the default",
    ),
    (
        "train_images_former",
        "Real digits without gradient clipping (the trainer's former default), on another machine "
        "than `train_images_tail.json`: `auto` is today's recipe, `dsn:alpha=0.3` the same gate "
        "at α 0.3",
    ),
    (
        "train_mnist1d_former",
        "MNIST-1D without gradient clipping (the trainer's former default), on another machine "
        "than `train_mnist1d_tail.json`: `auto` is today's recipe, `dsn:alpha=0.3` the same gate "
        "at α 0.3",
    ),
    (
        "train_mnist1d_uneven_former",
        "MNIST-1D's uneven nets without gradient clipping (the trainer's former default), on "
        "another machine than `train_mnist1d_tail.json`",
    ),
    (
        "train_mnist1d_clip",
        "MNIST-1D with the gradient norm capped at 1 (`clip_grad=1`, measured before it was the "
        "default): every arm against the baseline trained the same way; `auto` is today's recipe "
        "default, `dsn:alpha=0.001:alpha_gate=none` the null control",
    ),
    (
        "train_sequences_clip",
        "Sequences with the gradient norm capped at 1 (`clip_grad=1`, measured before it was the "
        "default): gpt_char on the text set, each arm against the baseline trained the same way",
    ),
    (
        "train_images_clip",
        "Real digits with the gradient norm capped at 1 (`clip_grad=1`, measured before it was "
        "the default): every arm against the baseline trained the same way; `auto` is today's "
        "recipe default, `dsn:alpha=0.001:alpha_gate=none` the null control",
    ),
)
_SHAPES = (
    (
        "train_shapes_check",
        f"15 epochs, 3 seeds, {_TODAY}; `auto` is the default as the CLI trains it: `imachsr`, "
        "then the baseline check, the result the run it keeps",
    ),
    (
        "train_shapes",
        f"15 epochs, 3 seeds, {_TODAY}; `imachsr` is the recipe default (with the lead gate)",
    ),
    (
        "train_shapes_shared",
        f"15 epochs, 3 seeds, {_SHARED}",
    ),
    ("train_shapes_5epochs", "5 epochs"),
    ("train_shapes_encoder_points", "heads on the encoder, 15 epochs"),
    (
        "train_shapes_clip",
        "15 epochs, 3 seeds, the gradient norm capped at 1 (`clip_grad=1`, measured before it "
        "was the default); each arm against the baseline trained the same way",
    ),
)


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _section(title: str, intro: str, table: list[str]) -> list[str]:
    """A section's lines: its heading, a paragraph, and its table."""
    return [title, "", intro, "", *table, ""]


def _stamp(data: dict) -> str:
    code, torch, when = (data.get(k, "?") for k in ("code", "torch", "when"))
    where = f", {data['cpu']}" if data.get("cpu") else ""
    return f"code `{code}`, torch {torch}{where}, written {when}"


def _classification(name: str, title: str) -> list[str]:
    data = _load(name)
    if data is None:
        return []
    summary, placement = summarize(data["results"])
    out = [
        f"### {title}",
        "",
        f"`{name}.json`: {_stamp(data)}. Accuracy of the main head on the "
        "held-out set at the end, per-seed Δ against the baseline of the same seed; *harmed*: "
        "seeds "
        "where the baseline trains (> 50 %) and the arm ends more than 2 points below it; *dead*: "
        "seeds where the main head stays within 5 points of chance.",
        "",
    ]
    out += _table(list(SUMMARY_COLUMNS), [summary_row(s, f"`{s['arm']}`") for s in summary])
    if placement:
        out += [
            "",
            "Where the points go: the same recipe at auto points against other placements "
            "(same count, paired seeds).",
            "",
        ]
        out += _table(
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
                    f"`{p['auto']}`",
                    f"`{p['other']}`",
                    p["seeds"],
                    f"{p['diff']:+.1f} ± {p['ci95']:.1f}",
                    f"{p['wins']}/{p['n']} ({p['ties']})",
                    " ".join(f"{d:+.1f}" for d in p["per_seed"]),
                ]
                for p in placement
            ],
        )
    return out + [""]


def _baseline_check() -> list[str]:
    """The default with its baseline check, per regime (``benchmarks/baseline_check.py``)."""
    data = _load("baseline_check")
    if data is None:
        return []
    rows = [
        [
            f"`{r['file']}`",
            r["regime"],
            r["n"],
            f"{r['baseline']:.1f}",
            f"{r['heads_diff']:+.1f} ± {r['heads_ci95']:.1f} ({len(r['heads_harmed'])})",
            f"**{r['diff']:+.1f} ± {r['ci95']:.1f}**",
            len(r["harmed"]),
            len(r["dead"]) if r["regime"] not in ("shapes", "gpt-text") else "—",
            r["kept_baseline"],
            r["by_validation"],
            _retries(r),
            " ".join(f"{d:+.1f}" for d in r["per_seed"]),
        ]
        for r in data["regimes"]
    ]
    return _section(
        "### The default: the heads, checked against the same run without them",
        "`baseline_check.json` (`python benchmarks/baseline_check.py`), written "
        f"{data.get('when', '?')}: what the default (`--recipe auto` with its baseline check, "
        '`docs/recipes.md`, "The baseline check") gives on every regime. Each row reads one '
        "results file's baseline and heads-alone runs of a seed (one code version, one CPU) and "
        "keeps the one the check keeps (today's rule, applied to the numbers each file recorded; "
        "*on validation*: seeds whose heads fit no worse and score lower); `held_*` files are "
        "seeds no default was chosen on, "
        "`checked_*` and `train_shapes_check` files ran the default itself (the check inside "
        "each job). "
        "Main-head accuracy (mIoU on shapes, token accuracy on gpt-text), per-seed Δ against the "
        "baseline; *harmed*: the baseline trains (> 50) and the default ends more than 2 points "
        "below it; *dead*: within 5 points of chance. *Retried*: seeds whose main head ended more "
        "than 5 points behind an aux head, where the check also trains the deepest point alone; "
        "*kept*: of those, the seeds it keeps that run; *missing*: retried seeds whose retry no "
        "file holds (runs from before the retry, on a CPU not at hand), counted as the two-run "
        "check keeps them, which the retry could only raise.",
        _table(
            [
                "file",
                "regime",
                "seeds",
                "baseline",
                "heads alone Δ (harmed)",
                "default Δ (95% CI)",
                "harmed",
                "dead",
                "kept without heads",
                "of which on validation",
                "retried: kept (missing)",
                "per-seed Δ",
            ],
            rows,
        ),
    )


def _retries(row: dict) -> str:
    """``retried: kept (missing)`` of a regime's row of ``baseline_check.json``; "—" where the
    check retried nothing (rows from before the retry lack the counts)."""
    retried = row.get("retried", 0) + row.get("retry_missing", 0)
    if not retried:
        return "—"
    missing = f" ({row['retry_missing']} missing)" if row.get("retry_missing") else ""
    return f"{retried}: {row.get('kept_deepest', 0)}{missing}"


def _split_half() -> list[str]:
    """The check's rules scored on validation halves they did not see
    (``benchmarks/split_half.py``)."""
    data = _load("split_half")
    if data is None:
        return []
    rows = [
        [
            f"`{r['file']}`",
            r["regime"],
            f"`{r['rule']}`",
            r["n"],
            f"{r['baseline']:.1f}",
            f"**{r['diff']:+.2f} ± {r['ci95']:.2f}**",
            ", ".join(map(str, r["harmed"])) or "none",
            f"{r['kept_heads']:.0%}",
        ]
        for r in data["rows"]
    ]
    return _section(
        "### The check's choice on validation samples it did not see",
        f"`split_half.json` (`python benchmarks/split_half.py`), written {data.get('when', '?')}: "
        f"each seed's validation set split in two at random {data['splits']} times; the rule "
        "chooses from the training losses and the scores on one half, and the kept run is scored "
        "against the run without heads on the other half (Δ in points, the mean over splits). "
        "`choose` is the default's rule (no worse on either count, and the retry with the "
        "deepest point alone weighed in where the check retried: no worse than both runs), "
        "`choose, two runs` the check before its retry, `training loss` the rule before that, "
        "`validation` the score alone. *harmed*: the baseline trains (> 50) and the "
        "seed's Δ is below −2; *keeps the heads*: a run with heads, the retry's included.",
        _table(
            [
                "file",
                "regime",
                "rule",
                "seeds",
                "baseline",
                "Δ on unseen halves (95% CI)",
                "harmed",
                "keeps the heads",
            ],
            rows,
        ),
    )


def _heads_at_the_end() -> list[str]:
    """Every head's final validation metric per seed (cross-entropy for a per-token task)."""
    data = _load("train_sequences")
    if data is None:
        return []
    rows = []
    for r in sorted(data["results"], key=lambda r: (r["regime"], r["arm"], r["seed"])):
        final = r.get("final", {})
        metric = "val_ce_" if any(k.startswith("val_ce_") for k in final) else "val_acc_"
        heads = {k[len(metric) :]: v for k, v in final.items() if k.startswith(metric)}
        shown = ", ".join(f"{h} {v:.3f}" for h, v in sorted(heads.items()))
        rows.append([r["regime"], f"`{r['arm']}`", r["seed"], metric[4:-1], shown])
    return [
        "Every head at the end (validation cross-entropy in nats per token, or accuracy):",
        "",
        *_table(["regime", "arm", "seed", "metric", "heads"], rows),
        "",
    ]


def _baselines_by_machine() -> dict:
    """{(regime, epochs, trainer settings): {machine: {seed: accuracy}}} of the baseline arms of
    every classification file; a result's machine is the CPU it names, else its file's machine,
    and its trainer settings those it ran with (:func:`~benchmarks.paired.trained_with`)."""
    found: dict = {}
    for name, _ in _CLASSIFICATION:
        data = _load(name)
        if data is None:
            continue
        for r in data["results"]:
            if not is_baseline(r["arm"]):
                continue
            machine = r.get("cpu") or data.get("cpu") or data.get("machine", "?")
            settings = trained_with(r)
            train = ", ".join(
                f"{k} {settings[k]:g}" for k in sorted(settings) if k not in AUX_ONLY_OPTIONS
            )
            key = (r["regime"], r.get("epochs") or data["epochs"].get(r["regime"]), train)
            found.setdefault(key, {}).setdefault(machine, {}).setdefault(r["seed"], r["acc"])
    return found


def _harm_count(arm: dict, baseline: dict) -> str:
    """ "harmed/trained" seeds of ``arm`` against ``baseline`` (:func:`harmed_seeds`)."""
    trained = sum(acc > TRAINS_ABOVE for acc in baseline.values())
    return f"{len(harmed_seeds(arm, baseline))}/{trained}"


def _same_numerics(found: dict) -> dict:
    """{machine: the first-named machine of its class}: two machines are one class when their
    baselines agree to the digit on every one of at least 3 shared seeds of some regime (the
    platform string of older files names the virtual machine's kernel, not the CPU)."""
    root = {m: m for by in found.values() for m in by}

    def find(m):
        while root[m] != m:
            m = root[m]
        return m

    for by in found.values():
        for a in sorted(by):
            for b in sorted(by):
                shared = set(by[a]) & set(by[b])
                if a < b and len(shared) >= 3 and all(by[a][s] == by[b][s] for s in shared):
                    root[find(b)] = find(a)
    return {m: find(m) for m in root}


def _machines() -> list[str]:
    """The baseline against itself on two machines: the same protocol and seed, another CPU. The
    bar's per-seed rule applied to it is the floor under which a default's harm is not told apart
    from where it ran."""
    found = _baselines_by_machine()
    cls = _same_numerics(found)
    names = sorted(set(cls.values()))
    label = {m: f"M{names.index(c) + 1}" for m, c in cls.items()}
    rows = []
    for (regime, epochs, train), by in sorted(found.items(), key=str):
        merged: dict = {}
        for m in sorted(by):
            merged.setdefault(cls[m], {}).update(by[m])
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                seeds = sorted(set(merged.get(a, {})) & set(merged.get(b, {})))
                if len(seeds) < 3:
                    continue
                first = {s: merged[a][s] for s in seeds}
                second = {s: merged[b][s] for s in seeds}
                rows.append(
                    [
                        regime,
                        epochs,
                        train,
                        f"{label[a]} / {label[b]}",
                        len(seeds),
                        " ".join(f"{first[s]:.1f}/{second[s]:.1f}" for s in seeds),
                        _harm_count(second, first),
                        _harm_count(first, second),
                        f"{max(abs(first[s] - second[s]) for s in seeds):.1f}",
                    ]
                )
    if not rows:
        return []
    legend = "; ".join(
        f"{label[c]}: " + ", ".join(sorted(m for m in cls if cls[m] == c)) for c in names
    )
    return _section(
        "### The baseline against itself on two machines",
        "The same regime, seed and protocol run without heads on two machines (CPUs differ in the "
        "kernels torch dispatches to, so in the low bits of every sum). *Harmed* applies the bar's "
        "rule to one machine's baseline against the other's: seeds where one trains (> 50 %) and "
        "the other ends more than 2 points below it. A default's harm on a regime is told apart "
        "from where it ran only when it is well under this count. Machines named together gave "
        "the same digits on every shared seed: " + legend + ".",
        _table(
            [
                "regime",
                "epochs",
                "trainer",
                "machines",
                "seeds",
                "per-seed accuracy (first/second)",
                "second harmed vs first",
                "first harmed vs second",
                "largest |Δ|",
            ],
            rows,
        ),
    )


def _shapes() -> list[str]:
    out = []
    for name, label in _SHAPES:
        data = _load(name)
        if data is None:
            continue
        results = data["results"]
        rows = []
        for arm in dict.fromkeys(r["arm"] for r in results):
            mine = {r["seed"]: r["miou"] for r in results if r["arm"] == arm}
            base_arm = baseline_of(arm)
            base = {r["seed"]: r["miou"] for r in results if r["arm"] == base_arm}
            diffs = [mine[s] - base[s] for s in sorted(mine) if s in base]
            rows.append(
                [
                    f"`{arm}`",
                    ",".join(next(r["points"] for r in results if r["arm"] == arm)) or "—",
                    f"{statistics.mean(mine.values()):.1f} ± "
                    f"{statistics.pstdev(mine.values()):.1f}",
                    len(mine),
                    f"{statistics.mean(diffs):+.1f} ± {ci95(diffs):.1f}"
                    if diffs and not is_baseline(arm)
                    else "",
                    " ".join(f"{d:+.1f}" for d in diffs) if not is_baseline(arm) else "",
                ]
            )
        out += [f"`{name}.json` ({label}): {_stamp(data)}.", ""]
        out += _table(
            ["arm", "points", "mIoU", "seeds", "Δ vs baseline (95% CI)", "per-seed Δ"], rows
        ) + [""]
    return ["### Segmentation: the shapes set (unet_small)", "", *out] if out else []


def _cost() -> list[str]:
    data = _load("cost")
    if data is None:
        return []
    rows = [
        [
            r["model"],
            f"`{r['arm']}`",
            f"{1000 * r['step_s']:.1f}",
            f"{r['time_ratio']:.2f}×",
            f"{r['memory_mib']:.1f}",
            f"{r['memory_ratio']:.2f}×",
        ]
        for r in data["rows"]
    ]
    return _section(
        "## Cost of the heads",
        f"`cost.json`: {_stamp(data)}; CPU, one thread. `light` and `dks`: the heads, one "
        "optimizer for the summed loss; `dks+own`: the same heads with the aux terms on an "
        "optimizer state of their own, as the trainer steps them by default (a second backward "
        "pass through the layers under the deepest point, a second gradient and optimizer state).",
        _table(
            [
                "model",
                "arm",
                "step (ms)",
                "time vs baseline",
                "training memory (MiB)",
                "memory vs baseline",
            ],
            rows,
        ),
    )


def _integrations() -> list[str]:
    data = _load("integrations")
    if data is None:
        return []
    rows = [
        [
            r["stack"],
            f"{1000 * r['plain_step_s']:.1f}",
            f"{1000 * r['deep_step_s']:.1f}",
            f"{r['ratio']:.2f}×",
        ]
        for r in data["rows"]
    ]
    return _section(
        "## Cost inside other training stacks",
        f"`integrations.json`: {_stamp(data)}; CPU, one thread, median step of "
        f"{data['rounds']} alternating rounds of {data['steps']} steps per arm.",
        _table(["stack", "step without (ms)", "step with heads (ms)", "ratio"], rows),
    )


def _gpu() -> list[str]:
    data = _load("gpu")
    if data is None:
        return []
    rows = [
        [c["name"], c["status"], f"{c['seconds']:.1f}", _gpu_detail(c), c["error"][:120]]
        for c in data["checks"]
    ]
    details = {c["name"]: c["detail"] for c in data["checks"]}
    cost = details.get("cost", {}).get("rows", [])
    speed = details.get("select_points", {}).get("rows", [])
    out = [
        "## On a GPU (`benchmarks/gpu_check.py`)",
        "",
        f"`gpu.json`: {_stamp(data)}; {data.get('gpu') or data['device']}.",
        "",
        *_table(["check", "status", "seconds", "what it saw", "why it failed"], rows),
        "",
    ]
    if speed:
        out += _table(
            ["model", "select_points (s)", "create_feature_extractor (s)", "ratio"],
            [
                [
                    r["model"],
                    f"{r['select_points_s']:.3f}",
                    f"{r['create_feature_extractor_s']:.3f}",
                    f"{r['ratio']:.2f}×",
                ]
                for r in speed
            ],
        ) + [""]
    if cost:
        out += _table(
            ["model", "arm", "step (ms)", "time vs baseline", "peak (MiB)", "memory vs baseline"],
            [
                [
                    r["model"],
                    f"`{r['arm']}`",
                    f"{1000 * r['step_s']:.1f}",
                    f"{r['time_ratio']:.2f}×",
                    f"{r['memory_mib']:.0f}",
                    f"{r['memory_ratio']:.2f}×",
                ]
                for r in cost
            ],
        ) + [
            "",
            "`dks` is the default head with one optimizer for the summed loss, the step the "
            "integrations take; `dks+own` is the step `tapfinder train` takes by default "
            '(`aux_state="own"`: the aux gradient is a second backward through the layers under '
            "the deepest point). The 1D nets do little work per kernel at this size, so their step "
            "time follows the number of kernels launched, and the heads add kernels.",
            "",
        ]
    return out


def _gpu_detail(check: dict) -> str:
    """What a GPU check measured, in a few words."""
    d = check["detail"]
    if "val_miou" in d:
        return f"val mIoU {d['val_miou']:.3f} (chance {d['chance']:.3f}), loads on the CPU"
    if "backend" in d:
        return (
            f"{d['backend']}, DDP {d['ddp']}, {d['sync_bn']} SyncBatchNorm "
            f"({d['heads_sync_bn']} in the heads), {d['batch_norm_left']} BatchNorm left"
        )
    return ""


def _speed() -> list[str]:
    data = _load("speed")
    if data is None:
        return []
    rows = [
        [
            r["model"],
            f"{r['select_points_s']:.3f}",
            f"{r['create_feature_extractor_s']:.3f}",
            f"{r['ratio']:.2f}×",
            f"{r['rules_share']:.0%}",
            ",".join(r["points"]),
        ]
        for r in data["compare"]
    ]
    cli = data.get("cli", {})
    return [
        "## Speed of the analysis",
        "",
        f"`speed.json`: {_stamp(data)}.",
        "",
        *_table(
            [
                "model",
                "select_points (s)",
                "create_feature_extractor (s)",
                "ratio",
                "rules + selection",
                "points",
            ],
            rows,
        ),
        "",
        f"`tapfinder --help`: {cli.get('help_s', 0):.2f} s; `tapfinder inspect resnet50`: "
        f"{cli.get('inspect_resnet50_s', 0):.1f} s (fresh processes).",
        "",
    ]


def _zoo() -> list[str]:
    data = _load("zoo")
    if data is None:
        return []
    results = data["results"]
    groups = (
        ("torchvision classification", lambda r: r["family"] == "classification"),
        ("torchvision segmentation", lambda r: r["family"] == "segmentation"),
        ("timm sample", lambda r: r["source"] == "timm"),
        ("Hugging Face (hf:)", lambda r: r["source"] == "hf"),
        ("ONNX exports", lambda r: r["source"] == "onnx"),
    )
    rows = []
    for label, keep in groups:
        run = [
            r
            for r in results
            if keep(r) and not r["error"].startswith("build") and r["runs_forward"] is not False
        ]
        n = max(len(run), 1)
        tried = [r for r in run if r["heads"] is not None]
        rows.append(
            [
                label,
                len(run),
                f"{sum(r['plain_fx'] for r in run) / n:.1%}",
                f"{sum(r['ours_trace'] for r in run) / n:.1%}",
                f"{sum(r['selection'] for r in run) / n:.1%}",
                f"{sum(r['heads'] for r in tried) / len(tried):.1%}" if tried else "—",
            ]
        )
    agreement = data.get("agreement", {})
    share = agreement.get("hits", 0) / max(agreement.get("modules", 1), 1)
    return [
        "## Model coverage",
        "",
        f"`zoo.json`: {_stamp(data)}; {len(results)} models.",
        "",
        *_table(
            [
                "source",
                "models that run",
                "plain symbolic_trace",
                "tapfinder fx",
                "full chain",
                "heads built",
            ],
            rows,
        ),
        "",
        "Agreement with timm's hand-written `feature_info` (every stage but the last in the "
        "candidate "
        f"set): {agreement.get('hits', 0)}/{agreement.get('modules', 0)} ({share:.1%}).",
        "",
    ]


def _onnx() -> list[str]:
    data = _load("onnx_export")
    if data is None:
        return []
    rows = [
        [
            r["model"],
            r["exporter"],
            r["nodes"],
            r["nodes_with_taps"],
            ", ".join(r["outputs_with_taps"]),
            f"{r['diff']:.1e}" if r.get("diff") is not None else "—",
        ]
        for r in data["rows"]
    ]
    return _section(
        "## ONNX export",
        f"`onnx_export.json`: {_stamp(data)}.",
        _table(
            [
                "model",
                "exporter",
                "nodes",
                "nodes with taps",
                "outputs with taps",
                "max |onnxruntime − PyTorch|",
            ],
            rows,
        ),
    )


def _checked_screens() -> list[str]:
    """The plain nets' screens judged through the baseline check
    (``benchmarks/checked_screens.py``)."""
    data = _load("checked_screens")
    if data is None:
        return []
    rows = [
        [
            f"`{r['file']}`",
            r["regime"],
            f"`{r['arm']}`",
            len(r["seeds"]),
            f"{r['alone']:+.1f}",
            f"**{r['checked']:+.1f} ± {r['checked_ci95']:.1f}**",
            f"{r['better']:+.1f}",
            f"{r['vs_default']:+.1f} ± {r['vs_default_ci95']:.1f}" if "vs_default" in r else "—",
        ]
        for r in data["rows"]
    ]
    return _section(
        "### The plain nets' screens through the check",
        f"`checked_screens.json` (`python benchmarks/checked_screens.py`), written "
        f"{data.get('when', '?')}: each arm's per-seed Δ against the run without heads of the "
        "same seed on the same CPU (from the file named in the script), for the heads alone, for "
        "the run the check keeps (`deepsup.baseline_check.choose`), and for the better of the two "
        "runs. *vs default*: the checked Δ minus the default's (`auto` of that file) on the same "
        "seeds, paired (95% CI).",
        _table(
            [
                "file",
                "regime",
                "arm",
                "seeds",
                "heads alone",
                "checked (95% CI)",
                "better run",
                "vs default",
            ],
            rows,
        ),
    )


def page() -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; do not edit "
        "by "
        "hand. How each benchmark runs is in its script's docstring.",
        "",
        "## Training with deep supervision",
        "",
        *_baseline_check(),
        *_split_half(),
        *_checked_screens(),
    ]
    for name, title in _CLASSIFICATION:
        lines += _classification(name, title)
        lines += _heads_at_the_end() if name == "train_sequences" else []
    lines += _machines()
    lines += _shapes()
    for section in (_cost, _integrations, _gpu, _speed, _zoo, _onnx):
        lines += section()
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is not up to date")
    args = parser.parse_args()
    text = page()
    if args.check:
        sys.exit(0 if PAGE.is_file() and PAGE.read_text() == text else 1)
    PAGE.write_text(text)
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
