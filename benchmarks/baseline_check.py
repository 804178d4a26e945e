"""The default with its baseline check (``deepsup.baseline_check``) on every regime, per seed.

The check trains the run with heads and then exactly the run without heads (``recipe=baseline``:
same model, seed, data order; pinned by ``tests/deepsup/test_baseline_check.py``), and keeps one.
So a results file holding both arms of one seed, from one code version on one CPU, says what the
check gives on it: this script applies ``deepsup.baseline_check.choose`` to the last epoch of the
two runs' curves (the heads alone: ``auto`` from code before the check, or
``auto:check_baseline=0``).
An ``auto`` result that ran the check itself (it records ``check``) is judged again from the two
runs' numbers it recorded, under today's rule, and needs no baseline result beside it.
Where the run with heads ended with its main head behind an aux head (``retry_point``), the check
also weighs the run with the deepest point alone: as the result recorded it (``check.deepest``),
or from a results file of those runs named in :data:`RETRIES`; a seed whose retry is in neither
counts as kept without it (``retry_missing``). Writes ``results/baseline_check.json``;
``benchmarks/report.py`` tabulates it.

    python benchmarks/baseline_check.py [--files train_digits,held_digits] [--name baseline_check]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, ci95, print_table, write_results  # noqa: E402
from benchmarks.paired import CHANCE_MARGIN, harmed_seeds  # noqa: E402
from deepsup.baseline_check import choose, retry_point, with_deepest  # noqa: E402

# runs of the default itself on a second CPU (its check inside each job), with the samples each run
# got right (for benchmarks/split_half.py)
SPLIT_FILES = (
    "split_digits",
    "split_digits2",
    "split_digits3",
    "split_mnist1d",
    "split_mnist1d2",
    "split_mnist",
    "split_digits_norm",
    "split_digits_norm2",
    "split_mnist1d_norm",
    "split_mnist_norm",
)
# the default tables of every regime (today's trainer), seeds no default was chosen on, and runs of
# the default itself (checked_*; and the split files)
FILES = (
    "train_mnist1d",
    "train_mnist1d_uneven",
    "train_images",
    "train_digits",
    "train_sequences",
    "train_shapes_check",
    "train_shapes_check2",
    "held_digits",
    "held_digits2",
    "held_res_digits",
    "held_mnist1d",
    "held_plain",
    "checked_digits",
    "checked_mnist1d",
    *SPLIT_FILES,
)
HEADS_ALONE = ("auto", "auto:check_baseline=0")
# files of runs from before the check's retry -> the file holding the retry's runs of their seeds
# (the deepest point alone, trained alone on the same CPU: docs/recipes.md, "The deepest point
# alone, where the main head ends behind")
RETRIES = {
    "split_digits": "screen29_retry_digits",
    "split_digits2": "screen29_retry_digits",
    "train_digits": "screen22_digits",
    "checked_digits": "screen22_digits",
    "split_digits_norm": "screen29_retry_norm",
    "split_mnist_norm": "screen29_retry_norm",
}


def score_of(result: dict) -> float:
    return result["miou"] if "miou" in result else result["acc"]


def last_rows(result: dict) -> list[dict]:
    """A result's last epoch as a metrics row: its main-head training loss and validation score."""
    if "curve" in result:
        return result["curve"][-1:]
    return [{"loss_main": result["loss_main"][-1], "val_miou": result["miou"] / 100}]


def recorded_rows(check: dict) -> tuple[list[dict], list[dict]]:
    """The two runs' last rows as a result that ran the check recorded them (so today's rule is
    applied, whichever rule the run itself applied)."""
    key = check["score"]
    return (
        [{"loss_main": check["loss_heads"], key: check["score_heads"]}],
        [{"loss_main": check["loss_baseline"], key: check["score_baseline"]}],
    )


def run_with_heads(result: dict) -> tuple[float, list[dict]]:
    """``(score, last rows)`` of a result's run with heads; for one that ran the check, the run
    with heads it recorded, whichever run it kept."""
    if "check" in result:
        return 100 * result["check"]["score_heads"], recorded_rows(result["check"])[0]
    return score_of(result), last_rows(result)


def run_without_heads(result: dict) -> tuple[float, list[dict]]:
    """``(score, last rows)`` of a ``baseline`` result, or of the run without heads that a result's
    check recorded."""
    if "check" in result:
        return 100 * result["check"]["score_baseline"], recorded_rows(result["check"])[1]
    return score_of(result), last_rows(result)


def heads_last_row(result: dict) -> dict | None:
    """The last metrics row of a result's run with heads, aux heads' scores included."""
    curve = result.get("check", {}).get("heads_curve") or result.get("curve")
    return curve[-1] if curve else None


def stored_retries(name: str) -> dict[tuple[str, int], list[dict]]:
    """(regime, seed) -> the retries stored apart (:data:`RETRIES`) for the results file
    ``name``."""
    out: dict[tuple[str, int], list[dict]] = {}
    if name in RETRIES:
        for r in json.loads((RESULTS / f"{RETRIES[name]}.json").read_text())["results"]:
            out.setdefault((r.get("regime", "shapes"), r["seed"]), []).append(r)
    return out


def stored_retry(result: dict, point: str, stored: dict) -> dict | None:
    """The stored run (``stored``: see :func:`stored_retries`) of ``result``'s seed with ``point``
    alone; None where there is none."""
    key = (result.get("regime", "shapes"), result["seed"])
    return next((r for r in stored.get(key, []) if r["points"] == [point]), None)


def retry_of(result: dict, stored: dict) -> tuple[str, float | None, list[dict] | None]:
    """``(point, score, last rows)`` of the check's retry of a run with heads: ``("", None, None)``
    where the check retries nothing, ``(point, None, None)`` where it would retry ``point`` and
    neither the result nor ``stored`` (see :func:`stored_retries`) holds the run."""
    check = result.get("check", {})
    if check.get("deepest"):  # the check ran its retry (results without a curve say so only here)
        key = check["score"]
        rows = [{"loss_main": check["loss_deepest"], key: check["score_deepest"]}]
        return check["deepest"], 100 * check["score_deepest"], rows
    last = heads_last_row(result)
    point = retry_point(result.get("points") or [], [last] if last else [])
    if point is None:
        return "", None, None
    retry = stored_retry(result, point, stored)
    if retry is None:
        return point, None, None
    return (point, *run_with_heads(retry))


def _pair(heads: dict, base: dict | None, stored: dict) -> tuple | None:
    """``(baseline score, heads-alone score, choice, kept score, retry missing)`` of one seed: from
    the numbers a result that ran the check recorded, else from the seed's baseline result of the
    same code (None without one); the retry's run weighed in where :func:`retry_of` finds it."""
    if "check" in heads:
        base = heads
    elif base is None or heads.get("code") != base.get("code"):
        return None
    (score_heads, rows_heads), (score_base, rows_base) = (
        run_with_heads(heads),
        run_without_heads(base),
    )
    choice = choose(rows_heads, rows_base)
    point, score_retry, rows_retry = retry_of(heads, stored)
    if rows_retry is not None:
        choice = with_deepest(choice, rows_retry, point)
    kept = {"heads": score_heads, "baseline": score_base, "deepest": score_retry}[choice.kept]
    return score_base, score_heads, choice, kept, bool(point) and rows_retry is None


def _seeds(results: list[dict], stored: dict | None = None) -> dict[str, list[dict]]:
    """Per regime, per seed: the baseline, the heads alone and the checked default's score;
    ``stored``: the check's retries stored apart (:func:`stored_retries`)."""
    stored = stored or {}
    by = {(r.get("regime", "shapes"), r["arm"], r["seed"]): r for r in results}
    out: dict[str, list[dict]] = {}
    for (regime, arm, seed), heads in sorted(by.items()):
        base = by.get((regime, "baseline", seed))
        paired = _pair(heads, base, stored) if arm in HEADS_ALONE else None
        if paired is None:
            continue
        score_base, alone, choice, kept, missing = paired
        out.setdefault(regime, []).append(
            {
                "seed": seed,
                "baseline": round(score_base, 2),
                "heads": round(alone, 2),
                "default": round(kept, 2),
                "kept": choice.kept,
                "by": choice.by,
                "ran_check": "check" in heads,
                "retried": choice.deepest,
                "retry_missing": missing,
            }
        )
    return out


def _summary(file: str, regime: str, seeds: list[dict]) -> dict:
    def deltas(key):
        return [s[key] - s["baseline"] for s in seeds]

    def harmed(key):
        return harmed_seeds(
            {s["seed"]: s[key] for s in seeds}, {s["seed"]: s["baseline"] for s in seeds}
        )

    chance = 10.0  # classification over 10 classes; mIoU and token accuracy have none here
    dense = regime in ("shapes", "gpt-text")
    return {
        "file": file,
        "regime": regime,
        "n": len(seeds),
        "baseline": statistics.mean(s["baseline"] for s in seeds),
        "heads_diff": statistics.mean(deltas("heads")),
        "heads_ci95": ci95(deltas("heads")),
        "heads_harmed": harmed("heads"),
        "diff": statistics.mean(deltas("default")),
        "ci95": ci95(deltas("default")),
        "harmed": harmed("default"),
        "dead": []
        if dense
        else [s["seed"] for s in seeds if s["default"] < chance + CHANCE_MARGIN],
        "kept_baseline": sum(s["kept"] == "baseline" for s in seeds),
        "retried": sum(bool(s["retried"]) for s in seeds),
        "kept_deepest": sum(s["kept"] == "deepest" for s in seeds),
        "retry_missing": sum(s["retry_missing"] for s in seeds),
        "by_validation": sum(s["by"] == "validation" for s in seeds),
        "ran_check": sum(s["ran_check"] for s in seeds),
        "per_seed": [round(d, 1) for d in deltas("default")],
        "seeds": seeds,
    }


def summaries(files) -> list[dict]:
    rows = []
    for name in files:
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            continue
        results = json.loads(path.read_text())["results"]
        for regime, seeds in _seeds(results, stored_retries(name)).items():
            rows.append(_summary(name, regime, seeds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default=",".join(FILES), help="results files (no .json)")
    parser.add_argument("--name", default="baseline_check")
    args = parser.parse_args()
    rows = summaries([f for f in args.files.split(",") if f])
    print_table(
        "The default with its baseline check, per-seed Δ against the baseline",
        [
            "file",
            "regime",
            "n",
            "heads alone Δ (harmed)",
            "default Δ",
            "harmed",
            "kept base",
            "kept deepest (retried, not stored)",
        ],
        [
            [
                r["file"],
                r["regime"],
                r["n"],
                f"{r['heads_diff']:+.1f} ({len(r['heads_harmed'])})",
                f"{r['diff']:+.1f} ± {r['ci95']:.1f}",
                len(r["harmed"]),
                r["kept_baseline"],
                f"{r['kept_deepest']} ({r['retried']}, {r['retry_missing']})",
            ]
            for r in rows
        ],
    )
    write_results(args.name, {"files": list(args.files.split(",")), "regimes": rows})


if __name__ == "__main__":
    main()
