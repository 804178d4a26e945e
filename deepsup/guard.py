"""The main-head guard: an epoch whose validation says the main head is not learning while an
aux head is, in one line with what to try (the trainer records it as ``guard`` in the epoch's row).

The main head is *stalled* when it stays within :data:`CHANCE_MARGIN` of chance (or its training
loss within 5 % of ln C) while an aux head is at least :data:`LEARNING` above chance, and
*trailing* when an aux head leads it by more than :data:`TRAIL` (accuracy or mIoU).
"""

from __future__ import annotations

import math

__all__ = ["main_head_warning", "CHANCE_MARGIN", "LEARNING", "TRAIL"]

CHANCE_MARGIN, LEARNING, TRAIL = 0.05, 0.20, 0.15
_WHY = "the layers after the last point may not be training: "
_COMPARE = "compare with `recipe=baseline`, "
# where the baseline check runs (deepsup.baseline_check) the comparison is made for the user
_CHECKED = (
    "the baseline check after this run compares it with the same run without heads (and, where "
    "the main head ends behind, with the deepest point alone) and keeps the better; to keep heads, "
)
_TRIES = "lower the aux weight (`alpha`), or tap deeper (`points`)"
# on an optimizer state of their own Adam divides the aux weight out of the heads' step, so a lower
# weight does nothing there (docs/recipes.md, "An optimizer state of their own"); the baseline comes
# first: on the 8x8 digits' plain net no weight or placement screened avoided the harm, and a deeper
# head made it worse (docs/recipes.md, "Real digits at 8×8")
_TRIES_OWN = (
    "lower the aux weight on one optimizer state (`aux_state=shared` and a lower `alpha`: on a "
    "state of their own the weight does not scale the heads' step), or tap deeper (`points`)"
)


def _heads(row: dict) -> tuple[float | None, dict]:
    """(main head's validation score, each aux head's) from a metrics row."""
    for prefix in ("val_acc_", "val_miou"):
        main_key = "val_acc_main" if prefix == "val_acc_" else "val_miou"
        if main_key in row:
            aux = {
                k.rsplit("_", 1)[-1]: v
                for k, v in row.items()
                if k.startswith(prefix) and "aux" in k
            }
            return row[main_key], aux
    return None, {}


def main_head_warning(
    row: dict,
    num_classes: int,
    task: str = "classification",
    own_state: bool = False,
    checked: bool = False,
) -> str | None:
    """One line when the epoch's ``row`` shows a stalled or trailing main head, else None; its
    advice fits aux terms on an optimizer state of their own when ``own_state``, and a run the
    baseline check compares afterwards when ``checked``.

    >>> main_head_warning({"epoch": 2, "val_acc_main": 0.1, "val_acc_aux0": 0.8}, 10)[:60]
    'epoch 2: the main head is at chance (10.0 %) while aux0 lear'
    >>> main_head_warning({"epoch": 2, "val_acc_main": 0.9, "val_acc_aux0": 0.8}, 10) is None
    True
    """
    main, aux = _heads(row)
    if main is None or not aux:
        return None
    advice = _WHY + (_CHECKED if checked else _COMPARE) + (_TRIES_OWN if own_state else _TRIES)
    best = max(aux, key=aux.get)
    chance = 1.0 / num_classes if task == "classification" else 0.0
    loss = row.get("loss_main")
    flat_loss = (
        loss is not None and task == "classification" and loss >= 0.95 * math.log(num_classes)
    )
    learning = aux[best] >= chance + LEARNING
    if task == "classification" and learning and (main < chance + CHANCE_MARGIN or flat_loss):
        return (
            f"epoch {row.get('epoch')}: the main head is at chance ({100 * main:.1f} %) "
            f"while {best} learns ({100 * aux[best]:.1f} %); {advice}"
        )
    if aux[best] - main > TRAIL:
        return (
            f"epoch {row.get('epoch')}: the main head ({100 * main:.1f}) trails {best} "
            f"({100 * aux[best]:.1f}) by {100 * (aux[best] - main):.0f} points; {advice}"
        )
    return None
