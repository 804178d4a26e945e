"""Train a tiny tapped 1D CNN for 2 epochs; run plainly or under torchrun, print the final metrics.

    python tests/assets/ddp_train.py OUT [hooks|rewrite] [shared|own]

``rewrite`` taps functional adds, which no module outputs, so the taps go through the fx rewrite.
"""

import json
import sys

import torch
from torch.utils.data import TensorDataset

from deepsup.losses import make_loss
from deepsup.trainer import TrainConfig, Trainer
from tapfinder import select_points
from tapfinder.taps import attach
from tests.assets.models import TAP_KINDS


def main(out: str, taps: str = "hooks", aux_state: str = "shared") -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    train = TensorDataset(
        torch.randn(128, 1, 32, generator=g), torch.randint(0, 10, (128,), generator=g)
    )
    val = TensorDataset(
        torch.randn(64, 1, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    )
    torch.manual_seed(0)
    build, points = TAP_KINDS[taps]
    model = build()
    sel = select_points(model, torch.randn(2, 1, 32), points=points)
    tapped = attach(model, sel)
    trainer = Trainer(
        tapped,
        make_loss("dks", layouts=["channels_first"] * sel.m),
        train,
        val,
        TrainConfig(epochs=2, batch_size=32, lr=3e-3, seed=0, aux_state=aux_state),
        out=out,
    )
    history = trainer.fit()
    if trainer.rank == 0:
        print(json.dumps(history[-1]))


if __name__ == "__main__":
    main(*sys.argv[1:])
