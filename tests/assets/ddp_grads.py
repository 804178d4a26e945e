"""Under torchrun: one DDP backward on each process's half batch against one full-batch backward.

    python -m torch.distributed.run --nproc_per_node 2 tests/assets/ddp_grads.py

Prints, on rank 0, the largest relative gradient difference per kind of tap: hooks (Plain1D) and the
fx rewrite (functional adds of Residual1D). BatchNorm is put in eval mode: its batch statistics are
per process under DDP on CPU, which is the one thing that may differ between the two runs.
"""

import json

import torch
import torch.distributed as dist
from torch import nn

from deepsup.losses import make_loss
from tapfinder import select_points
from tapfinder.taps import attach
from tests.assets.models import TAP_KINDS


def _tapped(kind: str):
    torch.manual_seed(0)
    build, points = TAP_KINDS[kind]
    model = build()
    sel = select_points(model, torch.randn(2, 1, 32), points=points)
    tapped = attach(model, sel)
    for m in tapped.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return tapped, make_loss("dks", layouts=["channels_first"] * sel.m)


def worst_gradient_gap(kind: str, rank: int, world: int) -> float:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 32, generator=g), torch.randint(0, 10, (32,), generator=g)
    ref, loss = _tapped(kind)
    loss(ref(x), y)[0].backward()
    net, _ = _tapped(kind)
    part = slice(rank * 32 // world, (rank + 1) * 32 // world)
    ddp = nn.parallel.DistributedDataParallel(
        net
    )  # held until backward: its reducer averages the gradients
    loss(ddp(x[part]), y[part])[0].backward()
    return max(
        (p.grad - q.grad).abs().max().item() / (q.grad.abs().max().item() + 1e-12)
        for p, q in zip(net.parameters(), ref.parameters(), strict=True)
    )


def main() -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    gaps = {kind: worst_gradient_gap(kind, rank, world) for kind in TAP_KINDS}
    if rank == 0:
        print(json.dumps(gaps))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
