"""Running under ``torchrun``: process group, DDP wrapping, samplers, and rank-0-only I/O.

Nothing here is needed outside torchrun: :func:`world` then reports rank 0 of 1 and every helper
is a no-op. Under ``torchrun`` (one process included) the trainer wraps the (already tapped) model
in DDP. Every aux head's loss is computed in every step (with a zero weight once α has decayed), so
DDP never meets an unused parameter and ``find_unused_parameters`` can stay off.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "world",
    "launched",
    "joined",
    "process_device",
    "setup",
    "wrap",
    "sync_batchnorm",
    "all_reduce_sums",
    "average_gradients",
    "barrier",
    "any_true",
]


def launched() -> bool:
    """Whether torchrun (or another launcher that sets the ``env://`` variables) started us."""
    return "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def joined() -> bool:
    """Whether this process is in a process group (one of any size, one process included)."""
    return dist.is_available() and dist.is_initialized()


def _reduced(values: list[float]) -> torch.Tensor:
    """``values`` summed over the processes (on this process's GPU under nccl, which reduces
    only CUDA tensors)."""
    cuda = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.cpu()


def mean_over_processes(values: torch.Tensor) -> torch.Tensor:
    """``values`` (detached) averaged over the processes of a group, as one batch split across
    them would give; unchanged outside one (or in a group of one)."""
    values = values.detach().clone()
    if joined() and dist.get_world_size() > 1:
        dist.all_reduce(values)
        values /= dist.get_world_size()
    return values


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def process_device(name: str = "auto") -> torch.device:
    """The device this process trains on: ``auto`` (CUDA when there is one, else Apple's MPS, else
    the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. Under torchrun, ``cuda`` is this process's
    GPU (``LOCAL_RANK``).

    >>> process_device("cpu")
    device(type='cpu')
    """
    from tapfinder.errors import ConfigError

    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else ("mps" if mps else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"`device` {name}: this machine has no usable CUDA GPU; use `device=cpu`"
            )
        if device.index is None:
            device = torch.device(
                "cuda",
                int(os.environ.get("LOCAL_RANK", 0)) if launched() else torch.cuda.current_device(),
            )
        if device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"`device` {name}: there are only {torch.cuda.device_count()} GPUs here"
            )
    elif device.type == "mps" and not mps:
        raise ConfigError(f"`device` {name}: MPS is not available here; use `device=cpu`")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"`device` {name}: training runs on cpu, cuda or mps")
    return device


def setup(device: torch.device) -> tuple[int, int]:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA), with one
    process too, so a 1-process torchrun runs the same DDP, SyncBatchNorm and reductions as many.

    A group joined here is destroyed at exit, while the interpreter is still whole: left to
    interpreter finalization, gloo's worker threads can abort the process (SIGABRT) after a run
    that finished well (pytorch/pytorch#179291). A group the caller made is the caller's to destroy.
    """
    rank, size = world()
    if launched() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_teardown)
        if device.type == "cuda":
            torch.cuda.set_device(
                device.index if device.index is not None else int(os.environ.get("LOCAL_RANK", 0))
            )
    return world()


def _teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device, sync_bn: bool = True) -> nn.Module:
    """DDP around ``model`` under torchrun; on CUDA, BatchNorm (the aux heads' too) becomes
    SyncBatchNorm.

    Each process sees batch_size / world samples, so per-process BatchNorm statistics differ from
    one process's. SyncBatchNorm runs on CUDA only; on CPU the statistics stay per process, as in
    plain DDP.
    """
    if not joined():
        return model
    model = sync_batchnorm(model, device) if sync_bn else model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm layers as SyncBatchNorm where it runs (CUDA); the model unchanged elsewhere."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda" else model


def all_reduce_sums(values: dict, count: int) -> tuple[dict, int]:
    """Sum named values and a count over all processes (identity for one process)."""
    if not joined():
        return values, count
    keys = sorted(values)
    t = _reduced([values[k] for k in keys] + [float(count)])
    return dict(zip(keys, t[:-1].tolist())), int(t[-1])


def average_gradients(grads) -> None:
    """Average ``grads`` (tensors, or None where a parameter has none) over the processes, in
    place, as DDP's backward does; nothing outside a group of two or more."""
    present = [g for g in grads if g is not None]
    if not present or not joined() or dist.get_world_size() < 2:
        return
    flat = torch.cat([g.reshape(-1) for g in present])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, part in zip(present, flat.split([g.numel() for g in present])):
        g.copy_(part.view_as(g))


def any_true(flag: bool) -> bool:
    """Whether ``flag`` holds on any process (so all stop together, none waits forever)."""
    if not joined():
        return flag
    return bool(_reduced([1.0 if flag else 0.0]).item() > 0)


def barrier() -> None:
    if joined():
        dist.barrier()
