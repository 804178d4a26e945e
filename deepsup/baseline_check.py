"""The baseline check: a run with heads is kept only where its main head does at least as well as
in the same run without heads, both on its own training set and on the validation set.

The check trains the run without heads (same model, seed, data order and settings: exactly what
``recipe="baseline"`` trains) into ``<out>/baseline`` and compares the two runs' main heads at their
last epoch: the training loss (``loss_main``) and the validation score. The heads are kept where
their main head fits the training set no worse (within :data:`TIE`) and scores no lower on
validation; elsewhere the run without heads is kept. Heads that leave the main head fitting its own
task worse have taken the shared layers from it; heads whose main head fits better but scores lower
have traded its generalization for the fit. Why both, and what it gives on every regime (on
validation samples the choice did not see too): ``docs/recipes.md``, "The baseline check".
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .metrics import main_score_key

__all__ = [
    "TIE",
    "CHOICE_FILE",
    "Choice",
    "choose",
    "baseline_folder",
    "write_choice",
    "read_choice",
]

TIE = 0.01  # nats of the main head's training loss within which neither run fits better
CHOICE_FILE = "choice.json"


@dataclass(frozen=True)
class Choice:
    kept: str  # "heads" or "baseline"
    by: str  # what ruled the heads out: "training loss" or "validation"; "both" when kept
    loss_heads: float
    loss_baseline: float
    score_heads: float
    score_baseline: float
    score: str  # the metrics key of the main head's validation score

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
        kept = "the run with heads" if self.kept == "heads" else "the run without heads"
        return f"kept {kept}: with heads vs without, {why}"


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


def baseline_folder(out: str | Path) -> Path:
    """Where the check's run without heads lives: a run folder of its own inside ``out``."""
    return Path(out) / "baseline"


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
