"""What a source resolves to (:class:`ModelSource`) and what the data asks of it
(:class:`Build`)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

__all__ = ["ModelSource", "Build", "accepted"]


@dataclass
class ModelSource:
    """A resolved model: the module, its example inputs (or None) and a display name."""

    model: nn.Module
    example_inputs: tuple | None
    name: str


@dataclass(frozen=True)
class Build:
    """What the data asks of a model: its number of classes, input channels and image side."""

    num_classes: int | None = None
    in_channels: int | None = None
    image_size: tuple | None = None


def accepted(factory, wanted: dict) -> dict:
    """The entries of ``wanted`` that ``factory``'s signature names (``in_channels`` may be
    ``in_chans``).

    >>> def f(num_classes=10, in_chans=3): ...
    >>> accepted(f, {"num_classes": 4, "in_channels": 1})
    {'num_classes': 4, 'in_chans': 1}
    """
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    for key, value in wanted.items():
        names = ("in_channels", "in_chans") if key == "in_channels" else (key,)
        name = next((n for n in names if n in params), None)
        if value is not None and name is not None:
            out[name] = value
    return out
