"""The baseline check: a run with heads is kept only where its main head does at least as well as
in the same run without heads, both on its own training set and on the validation set.

The check trains the run without heads (exactly what ``recipe="baseline"`` trains) into
``<out>/baseline`` and compares the two main heads at their last epoch: the training loss
(``loss_main``, within :data:`TIE`) and the validation score; the heads are kept where they are no
worse on both, else the run without heads. Where the run with heads ends with its main head more
than :data:`RETRY_LAG` behind an aux head, it also trains the same run with the deepest point alone
(``<out>/deepest``), kept where it does no worse than both other runs on both counts. Why, and what
each gives on every regime: ``docs/recipes.md``, "The baseline check" and "The deepest point alone,
where the main head ends behind".
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .metrics import main_score_key

__all__ = [
    "TIE",
    "RETRY_LAG",
    "CHOICE_FILE",
    "Choice",
    "choose",
    "lag",
    "retry_point",
    "with_deepest",
    "decide",
    "baseline_folder",
    "deepest_folder",
    "write_choice",
    "read_choice",
]

TIE = 0.01  # nats of the main head's training loss within which neither run fits better
# how far the main head's last validation score may trail the best aux head's before the check
# retries the deepest point alone (a fraction: 0.05 is 5 points of accuracy or mIoU)
RETRY_LAG = 0.05
CHOICE_FILE = "choice.json"


@dataclass(frozen=True)
class Choice:
    kept: str  # "heads", "baseline" or "deepest"
    by: str  # what ruled the heads out: "training loss" or "validation"; "both" when kept
    loss_heads: float
    loss_baseline: float
    score_heads: float
    score_baseline: float
    score: str  # the metrics key of the main head's validation score
    deepest: str = ""  # the point the retry trained alone; "" where there was no retry
    loss_deepest: float | None = None
    score_deepest: float | None = None

    def line(self) -> str:
        """The choice in one line, with the numbers behind it."""
        unit, name = (" %", "accuracy") if self.score == "val_acc_main" else ("", "mIoU")
        scores = (
            f"{name} {100 * self.score_heads:.1f}{unit} vs {100 * self.score_baseline:.1f}{unit}"
        )
        losses = f"main-head training loss {self.loss_heads:.3f} vs {self.loss_baseline:.3f}"
        if self.by == "training loss":
            why = f"{losses}, worse by more than {TIE:g} (validation {scores})"
        elif self.by == "validation":
            why = f"validation {scores}, lower ({losses})"
        else:
            why = f"{losses} and validation {scores}: no worse on either"
        if self.kept == "deepest":
            return (
                f"kept the run with {self.deepest} alone: {self._retry()}, no worse than either "
                f"(with heads vs without: {why})"
            )
        kept = "the run with heads" if self.kept == "heads" else "the run without heads"
        line = f"kept {kept}: with heads vs without, {why}"
        if self.deepest:
            line += f"; the run with {self.deepest} alone did worse ({self._retry()})"
        return line

    def _retry(self) -> str:
        unit = " %" if self.score == "val_acc_main" else ""
        return (
            f"main-head training loss {self.loss_deepest:.3f}, validation "
            f"{100 * self.score_deepest:.1f}{unit}"
        )


def choose(heads: list[dict], baseline: list[dict]) -> Choice:
    """Which run to keep, from the two runs' metrics rows (their last rows are read).

    >>> row = lambda loss, acc: [{"loss_main": loss, "val_acc_main": acc}]
    >>> [(c.kept, c.by) for c in (choose(row(0.30, 0.90), row(0.20, 0.88)),
    ...                           choose(row(0.10, 0.90), row(0.20, 0.92)),
    ...                           choose(row(0.205, 0.93), row(0.20, 0.92)))]
    [('baseline', 'training loss'), ('baseline', 'validation'), ('heads', 'both')]
    """
    last_heads, last_base = heads[-1], baseline[-1]
    key = main_score_key(last_heads)
    loss_heads, loss_base = float(last_heads["loss_main"]), float(last_base["loss_main"])
    score_heads, score_base = float(last_heads[key]), float(last_base[key])
    if loss_heads > loss_base + TIE:
        by = "training loss"
    elif score_heads < score_base:
        by = "validation"
    else:
        by = "both"
    return Choice(
        "heads" if by == "both" else "baseline",
        by,
        loss_heads,
        loss_base,
        score_heads,
        score_base,
        key,
    )


def lag(row: dict) -> float | None:
    """How far a metrics row's main-head validation score trails its best aux head's (negative
    where the main head leads); None for a row without aux scores.

    >>> lag({"val_acc_main": 0.70, "val_acc_aux0": 0.20, "val_acc_aux1": 0.85})
    0.15
    >>> lag({"val_miou": 0.6, "val_miou_aux0": 0.5}), lag({"val_acc_main": 0.9})
    (-0.1, None)
    """
    key = main_score_key(row)
    aux = [v for k, v in row.items() if k.startswith(f"{key.removesuffix('_main')}_aux")]
    return round(max(aux) - row[key], 6) if aux else None


def retry_point(points: list[str], heads: list[dict]) -> str | None:
    """The point the check retries alone: the last (deepest) of ``points``, ordered by depth as a
    selection orders them, where the run with heads (its metrics rows ``heads``) had more than one
    point and ended with its main head more than :data:`RETRY_LAG` behind an aux head; else None.

    >>> retry_point(["f.3", "f.9"], [{"val_acc_main": 0.6, "val_acc_aux0": 0.8}])
    'f.9'
    """
    trails = lag(heads[-1]) if heads else None
    if len(points) < 2 or trails is None or trails <= RETRY_LAG:
        return None
    return points[-1]


def with_deepest(choice: Choice, deepest: list[dict], point: str) -> Choice:
    """``choice`` with the retry's run (its metrics rows ``deepest``, of ``point`` alone) weighed
    in: kept where its main head does no worse than both other runs on both counts of
    :func:`choose`.

    >>> first = choose([{"loss_main": 0.5, "val_acc_main": 0.7}],
    ...                [{"loss_main": 0.4, "val_acc_main": 0.8}])
    >>> [with_deepest(first, [{"loss_main": loss, "val_acc_main": acc}], "f.3").kept
    ...  for loss, acc in ((0.3, 0.85), (0.45, 0.85), (0.3, 0.75))]
    ['deepest', 'baseline', 'baseline']
    """
    key = choice.score
    last = deepest[-1]
    loss, score = float(last["loss_main"]), float(last[key])
    runs = (
        (choice.loss_heads, choice.score_heads),
        (choice.loss_baseline, choice.score_baseline),
    )
    no_worse = all(
        choose([{"loss_main": loss, key: score}], [{"loss_main": other, key: theirs}]).kept
        == "heads"
        for other, theirs in runs
    )
    return replace(
        choice,
        kept="deepest" if no_worse else choice.kept,
        deepest=point,
        loss_deepest=loss,
        score_deepest=score,
    )


def decide(
    heads: list[dict], train_baseline, points: list[str], train_deepest
) -> tuple[Choice, list[dict], list[dict] | None]:
    """The whole check after the run with heads (its rows ``heads``, its ``points`` by depth):
    ``train_baseline()`` trains the run without heads, ``train_deepest(point)`` the retry where
    :func:`retry_point` asks for one (each returns its rows); returns the choice and both runs'
    rows (None for a retry not trained)."""
    baseline = train_baseline()
    choice, deepest = choose(heads, baseline), None
    point = retry_point(list(points), heads)
    if point is not None:
        deepest = train_deepest(point)
        choice = with_deepest(choice, deepest, point)
    return choice, baseline, deepest


def baseline_folder(out: str | Path) -> Path:
    """Where the check's run without heads lives: a run folder of its own inside ``out``."""
    return Path(out) / "baseline"


def deepest_folder(out: str | Path) -> Path:
    """Where the check's retry with the deepest point alone lives, inside ``out``."""
    return Path(out) / "deepest"


def write_choice(out: str | Path, choice: Choice) -> Path:
    """Write the choice into ``out`` (atomically: a reader sees the old file or the new one)."""
    path = Path(out) / CHOICE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(choice), indent=1))
    os.replace(tmp, path)
    return path


def read_choice(out: str | Path) -> Choice | None:
    """The choice written into ``out``; None for a run without a check, or one not checked yet."""
    path = Path(out) / CHOICE_FILE
    if not path.is_file():
        return None
    return Choice(**json.loads(path.read_text()))
