"""Does deep supervision at automatically chosen points help? MNIST-1D, paired seeds, five regimes.

Regime "plain": ``plain1d48`` (48 conv3 × 32, stride 2 after layers 16 and 32, no normalization,
Kaiming init), where plain training struggles. "bn": ``plain1d20_bn`` (20 layers with BatchNorm),
where plain training works and deep supervision should not hurt. "resnet": ``resnet1d32`` (He et
al.'s CIFAR ResNet-32 in 1D). In these three the stages are even, so evenly spaced points land on
(or next to) the stage outputs that auto picks. "plain34" (``plain1d34``) and "resnet34"
(``resnet1d34``) take He et al.'s uneven 34-layer layout (3, 4, 6, 3 blocks), where the placements
differ (``--regimes plain34,resnet34 --name train_mnist1d_uneven``). Arms and the protocol are in
:mod:`benchmarks.paired`; Adam, OneCycle (max lr 1e-3), batch 128, 20 epochs, seeds 0..4.

    python benchmarks/train_mnist1d.py [--seeds 5] [--workers 2] [--regimes plain,bn,resnet] [--arms
    ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.paired import Regime, main  # noqa: E402

_ALL = ("baseline", "dsn", "dks", "imachsr", "dks@random", "dks@even")
_PLACEMENT = ("baseline", "dks", "dks@random", "dks@even")
REGIMES = {
    "plain": Regime("plain1d48", "mnist1d", 20, (*_ALL, "dks:head_norm=batch")),
    "bn": Regime("plain1d20_bn", "mnist1d", 20, ("baseline", "dsn", "dks", "imachsr")),
    "resnet": Regime("resnet1d32", "mnist1d", 20, _ALL),
    "plain34": Regime("plain1d34", "mnist1d", 20, _PLACEMENT),
    "resnet34": Regime("resnet1d34", "mnist1d", 20, _PLACEMENT),
}

if __name__ == "__main__":
    main(REGIMES, "plain,bn,resnet", "train_mnist1d", __doc__)
