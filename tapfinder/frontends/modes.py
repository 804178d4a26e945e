"""Leave the model as found: switch train/eval mode for a while, then restore every module's
flag."""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn

__all__ = ["in_mode"]


@contextmanager
def in_mode(model: nn.Module, training: bool):
    """Put every submodule in train (``True``) or eval mode, then restore each one's own flag.

    >>> m = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    >>> m[1].eval()
    Dropout(p=0.5, inplace=False)
    >>> with in_mode(m, True):
    ...     m[1].training
    True
    >>> m[0].training, m[1].training
    (True, False)
    """
    flags = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag
