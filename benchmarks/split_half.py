"""The baseline check's choice scored on validation samples it did not see.

The check reads the two runs' validation scores, and the benchmarks report on the same samples, so
there a choice that reads them looks better than it is. Here each seed's validation set is split in
two at random, :data:`SPLITS` times: a rule chooses from the two runs' main-head training losses and
their scores on one half, and the run it keeps is scored against the run without heads on the other
half. A seed's Δ is the mean over its splits. The rules: ``choose`` (the default's:
``deepsup.baseline_check.choose``, then the retry with the deepest point alone weighed in by
``with_deepest`` where the check retried and the run is recorded or stored apart,
``benchmarks.baseline_check.RETRIES``), ``choose, two runs`` (the check before its retry),
``training loss`` (the training loss alone, the validation score only where the losses tie: the
rule before that) and ``validation`` (the score alone). It reads results of the ``auto`` arm that
ran the check and recorded which samples each run got right (``benchmarks/paired.py``:
``check.heads_right``, ``check.baseline_right``, ``check.deepest_right``).

    python benchmarks/split_half.py [--files split_digits,split_mnist1d] [--splits 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, ci95, print_table, write_results  # noqa: E402
from benchmarks.baseline_check import (  # noqa: E402
    SPLIT_FILES,
    retry_of,
    stored_retries,
    stored_retry,
)
from deepsup.baseline_check import TIE, choose, with_deepest  # noqa: E402

FILES = SPLIT_FILES
SPLITS = 200
HARM = 2.0  # points below the baseline that harm a seed, where the baseline trains (above 50 %)


def by_choose(runs: dict) -> str:
    """Today's rule: ``choose``, then the retry (where the run has one) weighed in by
    ``with_deepest``. ``runs``: run name -> (main-head training loss, validation score)."""
    (loss_heads, score_heads), (loss_base, score_base) = runs["heads"], runs["baseline"]
    choice = choose(_rows(loss_heads, score_heads), _rows(loss_base, score_base))
    if "deepest" in runs:
        choice = with_deepest(choice, _rows(*runs["deepest"]), "deepest")
    return choice.kept


def by_two_runs(runs: dict) -> str:
    """``choose`` between the run with heads and the run without them (the check before its
    retry)."""
    return by_choose({k: v for k, v in runs.items() if k != "deepest"})


def by_training_loss(runs: dict) -> str:
    """The rule before: the training loss, and the validation score only within :data:`TIE`.

    >>> by_training_loss({"heads": (0.70, 0.70), "baseline": (0.80, 0.75)})
    'heads'
    >>> by_training_loss({"heads": (0.805, 0.70), "baseline": (0.80, 0.75)})
    'baseline'
    """
    (loss_heads, score_heads), (loss_base, score_base) = runs["heads"], runs["baseline"]
    tied = abs(loss_heads - loss_base) <= TIE
    better = score_heads >= score_base if tied else loss_heads < loss_base
    return "heads" if better else "baseline"


def by_validation(runs: dict) -> str:
    return "heads" if runs["heads"][1] >= runs["baseline"][1] else "baseline"


RULES = {
    "choose": by_choose,
    "choose, two runs": by_two_runs,
    "training loss": by_training_loss,
    "validation": by_validation,
}


def _rows(loss: float, score: float) -> list[dict]:
    return [{"loss_main": loss, "val_acc_main": score}]


def _marks(text: str) -> list[bool]:
    return [c == "1" for c in text]


def seed_deltas(check: dict, rule, splits: int, seed: int) -> tuple[float, float]:
    """``(Δ on held-out halves, share of splits keeping a run with heads)`` of one seed's check
    under ``rule``; Δ in points, the kept run against the run without heads. A check with
    ``loss_deepest`` and ``deepest_right`` has the retry's run too.

    >>> check = dict(loss_heads=0.5, loss_baseline=0.2, heads_right="11", baseline_right="00")
    >>> seed_deltas(check, by_training_loss, 20, 0), seed_deltas(check, by_validation, 20, 0)
    ((0.0, 0.0), (100.0, 1.0))
    """
    import random

    marks = {"heads": _marks(check["heads_right"]), "baseline": _marks(check["baseline_right"])}
    losses = {"heads": check["loss_heads"], "baseline": check["loss_baseline"]}
    if check.get("deepest_right"):
        marks["deepest"], losses["deepest"] = _marks(check["deepest_right"]), check["loss_deepest"]
    base = marks["baseline"]
    order, half = list(range(len(base))), len(base) // 2
    draw = random.Random(seed)
    deltas, kept_heads = [], 0
    for _ in range(splits):
        draw.shuffle(order)
        seen, unseen = order[:half], order[half:]
        kept = rule({k: (losses[k], sum(m[i] for i in seen) / len(seen)) for k, m in marks.items()})
        kept_heads += kept != "baseline"
        chosen = marks[kept]
        deltas.append(100 * sum(chosen[i] - base[i] for i in unseen) / len(unseen))
    return statistics.mean(deltas), kept_heads / splits


def with_retry(result: dict, stored: dict) -> dict:
    """A result's ``check`` with its retry's loss and right samples added where the check retried
    and the run is recorded in it or stored apart (``stored``: see
    ``baseline_check.stored_retries``)."""
    check = result["check"]
    point, _, rows = retry_of(result, stored)
    if rows is None or "deepest_right" in check:  # no retry, or one the check recorded
        return check
    retry = stored_retry(result, point, stored)
    return {**check, "loss_deepest": rows[-1]["loss_main"], "deepest_right": retry["right"]}


def _checked(path: Path) -> list[dict]:
    """The results in ``path`` that ran the check and recorded both runs' right samples."""
    results = json.loads(path.read_text())["results"]
    return [r for r in results if "baseline_right" in r.get("check", {})]


def _summary(runs: list[dict], rule_name: str, splits: int) -> dict:
    per_seed = [seed_deltas(r["check"], RULES[rule_name], splits, r["seed"]) for r in runs]
    deltas = [d for d, _ in per_seed]
    baselines = [100 * r["check"]["score_baseline"] for r in runs]
    return {
        "regime": runs[0]["regime"],
        "rule": rule_name,
        "n": len(runs),
        "baseline": statistics.mean(baselines),
        "diff": statistics.mean(deltas),
        "ci95": ci95(deltas),
        "harmed": [r["seed"] for r, d, b in zip(runs, deltas, baselines) if b > 50 and d < -HARM],
        "kept_heads": statistics.mean(k for _, k in per_seed),
        "per_seed": {r["seed"]: round(d, 2) for r, d in zip(runs, deltas)},
    }


def summaries(files, splits: int = SPLITS) -> list[dict]:
    rows = []
    for name in files:
        path = RESULTS / f"{name}.json"
        results = _checked(path) if path.is_file() else []
        stored = stored_retries(name)
        for regime in sorted({r["regime"] for r in results}):
            runs = [
                {**r, "check": with_retry(r, stored)}
                for r in sorted(results, key=lambda r: r["seed"])
                if r["regime"] == regime
            ]
            rows += [{"file": name, **_summary(runs, rule, splits)} for rule in RULES]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default=",".join(FILES), help="results files (no .json)")
    parser.add_argument("--splits", type=int, default=SPLITS)
    parser.add_argument("--name", default="split_half")
    args = parser.parse_args()
    rows = summaries([f for f in args.files.split(",") if f], args.splits)
    print_table(
        f"The check's choice on one validation half, scored on the other ({args.splits} splits)",
        ["file", "regime", "rule", "n", "Δ on unseen halves", "harmed", "kept heads"],
        [
            [
                r["file"],
                r["regime"],
                r["rule"],
                r["n"],
                f"{r['diff']:+.2f} ± {r['ci95']:.2f}",
                ",".join(map(str, r["harmed"])) or "0",
                f"{r['kept_heads']:.0%}",
            ]
            for r in rows
        ],
    )
    write_results(args.name, {"files": args.files.split(","), "splits": args.splits, "rows": rows})


if __name__ == "__main__":
    main()
