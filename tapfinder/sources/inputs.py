"""Example inputs: parsed from a shape, made reproducibly, or guessed from a model's first layer."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["BATCH", "parse_input_shape", "random_input", "input_for", "guess_example_inputs"]

BATCH = 2  # > 1 so train-mode BatchNorm accepts 1×1 features


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1,3,64,64"`` → ``(1, 3, 64, 64)``.

    >>> parse_input_shape("1, 3,64,64"), parse_input_shape("2x3x32x32")
    ((1, 3, 64, 64), (2, 3, 32, 32))
    """
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise ConfigError(
            f"`input_shape` must be positive integers separated by commas, like 2,3,224,224; "
            f"got {text!r}"
        )
    return shape


def random_input(shape, dtype: torch.dtype = torch.float32, high: int = 2) -> torch.Tensor:
    """A reproducible example input of ``shape`` (seeded, so repeated analyses see the same
    values): normal floats, or integers in ``[0, high)`` for an integer ``dtype`` (token ids).

    >>> random_input((2, 3), torch.long, high=5).dtype
    torch.int64
    """
    generator = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randn(*shape, generator=generator, dtype=dtype)
    return torch.randint(0, high, tuple(shape), generator=generator, dtype=dtype)


def input_for(model: nn.Module, shape) -> torch.Tensor:
    """An example input of ``shape`` for ``model``: token ids below its vocabulary when its first
    weighted layer is an embedding, floats otherwise."""
    first = next(
        (
            m
            for m in model.modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding))
        ),
        None,
    )
    if isinstance(first, nn.Embedding):
        return random_input(shape, torch.long, first.num_embeddings)
    return random_input(shape)


def guess_example_inputs(model: nn.Module) -> tuple:
    """An example input for a module that came without one, from its first weighted layer.

    Raises:
        ConfigError: when the first layer does not say what it takes.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            spatial = {1: (256,), 2: (224, 224), 3: (16, 112, 112)}[m.weight.dim() - 2]
            return (random_input((BATCH, m.in_channels, *spatial)),)
        if isinstance(m, nn.Linear):
            return (random_input((BATCH, m.in_features)),)
        if isinstance(m, nn.Embedding):
            return (
                torch.randint(
                    0, m.num_embeddings, (BATCH, 16), generator=torch.Generator().manual_seed(0)
                ),
            )
    raise ConfigError(
        f"cannot tell what {type(model).__name__} takes as input; pass `example_inputs` "
        "or `input_shape`"
    )
