"""The screens of the plain nets, judged as the default would keep them: through the baseline check.

With the check (``deepsup.baseline_check``) a setting of the heads is worth what the kept run gives,
not what the heads alone give: a setting that harms some seeds and helps others can win through
the check. So every arm of the screens is judged again here, per seed, against the run without
heads of the same seed on the same CPU: the heads alone, the check's choice between the two runs
(``choose``; the retry of the check, with the deepest point alone, is judged where its runs are
stored, in ``benchmarks/baseline_check.py``) and the better of the two runs (what no rule that
keeps one of them can beat). A seed's
baseline comes from a ``baseline`` arm of the file named beside the screen, or from the run
without heads that an ``auto`` result's check recorded. Writes ``results/checked_screens.json``.

    python benchmarks/checked_screens.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, ci95, print_table, write_results  # noqa: E402
from benchmarks.baseline_check import run_with_heads, run_without_heads  # noqa: E402
from deepsup.baseline_check import choose  # noqa: E402

# (screen file, regime, file holding that regime's runs without heads on the same CPU): the screens
# of docs/recipes.md ("Real digits at 8x8", "Which heads the check should get"), whose code trains
# the run without heads as the baseline file's does
SCREENS = (
    ("train_digits", "plain-digits", "train_digits"),
    ("screen21_digits", "plain-digits", "train_digits"),
    ("screen22_digits", "plain-digits", "train_digits"),
    ("screen24_digits_alpha", "plain-digits", "train_digits"),
    ("screen25_digits_deeper", "plain-digits", "train_digits"),
    ("screen26_digits_deepest", "plain-digits", "train_digits"),
    ("split_mnist1d", "plain", "split_mnist1d"),
    ("screen27_tail_mnist1d", "plain", "split_mnist1d"),
    ("screen28_best_mnist1d", "plain", "split_mnist1d"),
    ("split_digits", "plain-digits", "split_digits"),
    ("screen28_best_digits", "plain-digits", "split_digits"),
)


def baselines(results: list[dict], regime: str) -> dict[int, tuple[float, list[dict]]]:
    """Per seed, the run without heads: ``(score, last rows)``, from a ``baseline`` result or from
    what an ``auto`` result's check recorded of it."""
    out = {}
    for r in results:
        if r.get("regime", "shapes") != regime:
            continue
        if r["arm"] == "baseline":
            out[r["seed"]] = run_without_heads(r)
        elif "check" in r:
            out.setdefault(r["seed"], run_without_heads(r))
    return out


def judged(arm_results: list[dict], base: dict) -> dict | None:
    """One arm's per-seed Δ against the baseline: alone, through the check, and the better run."""
    alone, checked, better, seeds = [], [], [], []
    for r in sorted(arm_results, key=lambda r: r["seed"]):
        if r["seed"] not in base:
            continue
        score_base, rows_base = base[r["seed"]]
        score_heads, rows_heads = run_with_heads(r)
        kept = choose(rows_heads, rows_base).kept
        seeds.append(r["seed"])
        alone.append(score_heads - score_base)
        checked.append((score_heads if kept == "heads" else score_base) - score_base)
        better.append(max(score_heads, score_base) - score_base)
    if not seeds:
        return None
    return {
        "seeds": seeds,
        "alone": statistics.mean(alone),
        "checked": statistics.mean(checked),
        "checked_ci95": ci95(checked),
        "better": statistics.mean(better),
        "per_seed_alone": [round(d, 1) for d in alone],
        "per_seed_checked": [round(d, 1) for d in checked],
    }


def rows(screens=SCREENS) -> list[dict]:
    out = []
    for name, regime, base_name in screens:
        paths = [RESULTS / f"{n}.json" for n in (name, base_name)]
        if not all(p.is_file() for p in paths):
            continue
        screen, base_file = (json.loads(p.read_text())["results"] for p in paths)
        base = baselines(base_file, regime)
        arms: dict[str, list[dict]] = {}
        for r in screen:
            if r.get("regime", "shapes") == regime and r["arm"] != "baseline":
                arms.setdefault(r["arm"], []).append(r)
        for arm, results in arms.items():
            row = judged(results, base)
            if row is not None:
                out.append(
                    {"file": name, "regime": regime, "arm": arm, "against": base_name, **row}
                )
    for row in out:
        row.update(against_default(row, out))
    return out


def against_default(row: dict, rows: list[dict]) -> dict:
    """The row's checked Δ minus the default's (the ``auto`` arm of its baseline file) on the
    seeds both ran, paired: ``{"vs_default", "vs_default_ci95"}``, empty where there is none."""
    default = next(
        (r for r in rows if (r["file"], r["arm"]) == (row["against"], "auto") and r is not row),
        None,
    )
    if default is None:
        return {}
    theirs = dict(zip(default["seeds"], default["per_seed_checked"]))
    diffs = [d - theirs[s] for s, d in zip(row["seeds"], row["per_seed_checked"]) if s in theirs]
    if len(diffs) < 2:
        return {}
    return {"vs_default": statistics.mean(diffs), "vs_default_ci95": ci95(diffs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="checked_screens")
    args = parser.parse_args()
    found = rows()
    print_table(
        "Screens through the baseline check: mean Δ against the run without heads",
        ["file", "regime", "arm", "seeds", "alone", "checked (95% CI)", "better run", "vs default"],
        [
            [
                r["file"],
                r["regime"],
                r["arm"],
                len(r["seeds"]),
                f"{r['alone']:+.1f}",
                f"{r['checked']:+.1f} ± {r['checked_ci95']:.1f}",
                f"{r['better']:+.1f}",
                f"{r['vs_default']:+.1f} ± {r['vs_default_ci95']:.1f}" if "vs_default" in r else "",
            ]
            for r in found
        ],
    )
    write_results(args.name, {"screens": [list(s) for s in SCREENS], "rows": found})


if __name__ == "__main__":
    main()
