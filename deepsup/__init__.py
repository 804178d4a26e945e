"""deepsup: the bundled deep-supervision trainer (losses, recipes, loop, data, checkpoints).

>>> from deepsup import Trainer, RECIPES   # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["Trainer", "TrainConfig", "RECIPES", "make_loss"]


def __getattr__(name):
    if name in ("Trainer", "TrainConfig"):
        from . import trainer

        return getattr(trainer, name)
    if name in ("RECIPES", "make_loss"):
        from . import losses

        return getattr(losses, name)
    raise AttributeError(f"module 'deepsup' has no attribute {name!r}")
