"""A user's Lightning code, untouched by deep supervision: a LightningModule around a small CNN.

Run as a script (``python tests/assets/lightning_app.py OUT [devices]``) it fits 2 epochs with the
DeepSupervision callback on CPU, with 2 devices through Lightning's ``ddp`` strategy, and writes
what the test checks into OUT.
"""

import json
import sys

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()

        def stage(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, 2, 1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            )

        self.stages = nn.Sequential(stage(3, 8), stage(8, 16), stage(16, 16), stage(16, 32))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        return self.fc(self.stages(x).mean((2, 3)))


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = Net()
        self.example_input_array = torch.zeros(2, 3, 32, 32)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def data(n: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(
            torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 4, (n,), generator=g)
        ),
        batch_size=16,
    )


if __name__ == "__main__":
    from deepsup.integrations.lightning import DeepSupervision

    out, devices = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1
    torch.manual_seed(0)
    module = Classifier()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        callbacks=[DeepSupervision()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, data())
    if trainer.global_rank == 0:
        keys = list(module.state_dict())
        json.dump({"keys": keys, "logged": sorted(trainer.callback_metrics)}, open(out, "w"))
