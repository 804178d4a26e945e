"""Run a module with its parameters and buffers swapped for stand-ins, and put the originals back.

``torch.func.functional_call`` does this by name, and leaves a module reached under two names
(CoaT's
shared ``crpe`` and ``mlp2 = mlp3 = mlp4``) holding the stand-ins afterwards (torch 2.14): the next
real forward then fails with "Tensor on device meta is not on the expected device cpu". Swapping by
module, each module once and each tensor's stand-in made once, keeps aliases and tied weights tied
and restores every slot.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn

__all__ = ["swapped_state"]


@contextlib.contextmanager
def swapped_state(
    root: nn.Module, make: Callable[[torch.Tensor], torch.Tensor], parameters: bool = True
) -> Iterator[None]:
    """Within the block every buffer of ``root`` (and every parameter with ``parameters``) is
    ``make(tensor)``; afterwards the originals are back, also when the block raised.

    >>> shared = nn.BatchNorm1d(2)
    >>> net = nn.Sequential(shared, shared)
    >>> with swapped_state(net, torch.clone, parameters=False):
    ...     _ = net(torch.randn(4, 2))
    >>> bool(shared.running_mean.abs().sum() == 0)   # the clones took the statistics
    True
    """
    made: dict[int, torch.Tensor] = {}
    saved: list[tuple[dict, str, torch.Tensor]] = []
    stores = [m._buffers for m in root.modules()] + (
        [m._parameters for m in root.modules()] if parameters else []
    )
    try:
        for store in stores:
            for name, tensor in list(store.items()):
                if tensor is None:
                    continue
                if id(tensor) not in made:
                    made[id(tensor)] = make(tensor)
                saved.append((store, name, tensor))
                store[name] = made[id(tensor)]
        yield
    finally:
        for store, name, tensor in reversed(saved):
            store[name] = tensor
