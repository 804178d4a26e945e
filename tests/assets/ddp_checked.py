"""Train a checked run (``deepsup.run.train``, the default recipe with its baseline check) of a
tiny 1D CNN for 2 epochs; run plainly or under torchrun, print the choice as JSON.

    python tests/assets/ddp_checked.py OUT
"""

import json
import sys
from dataclasses import asdict

import torch

from deepsup.run import RunSpec, prepare, train
from deepsup.trainer import TrainConfig


def main(out: str) -> None:
    torch.set_num_threads(1)
    spec = RunSpec(
        model="tests/assets/model_1d.py",
        data="tests/assets/data_file.py",
        train=TrainConfig(epochs=2, batch_size=16),
        device="cpu",
    )
    trained = train(prepare(spec), out)
    print(json.dumps(asdict(trained.choice)))


if __name__ == "__main__":
    main(*sys.argv[1:])
