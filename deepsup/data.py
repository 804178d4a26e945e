"""Datasets: built-in generated sets, a folder of images, or a user's Python file.

``mnist1d``: the MNIST-1D set, generated offline by the ``mnist1d`` package with its published
arguments (4000 train / 1000 test, seed 42), shaped [N, 1, 40]. ``shapes``: a generated segmentation
set (see :mod:`deepsup.shapes_data`). A folder with one sub-folder per class (``ImageFolder``), or
``data.py`` defining ``get_datasets()`` → (train, val) datasets.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from tapfinder.errors import ConfigError

__all__ = ["DataSpec", "load_data"]


@dataclass
class DataSpec:
    train: Dataset
    val: Dataset
    num_classes: int
    task: str               # "classification" | "segmentation"
    input_shape: tuple      # one sample, without batch


def _mnist1d() -> DataSpec:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ConfigError("--data mnist1d needs the mnist1d package: pip install mnist1d") from e
    cache = Path.home() / ".cache" / "tapfinder" / "mnist1d-default.pt"
    if cache.is_file():
        d = torch.load(cache, weights_only=False)
    else:
        d = make_dataset(get_dataset_args())   # offline; get_dataset() would try a download
        d = {k: d[k] for k in ("x", "y", "x_test", "y_test")}
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        torch.save(d, tmp)
        os.replace(tmp, cache)
    train = TensorDataset(torch.as_tensor(d["x"], dtype=torch.float32).unsqueeze(1), torch.as_tensor(d["y"]).long())
    val = TensorDataset(torch.as_tensor(d["x_test"], dtype=torch.float32).unsqueeze(1),
                        torch.as_tensor(d["y_test"]).long())
    return DataSpec(train, val, 10, "classification", (1, d["x"].shape[1]))


def _folder(path: Path, image_size: int) -> DataSpec:
    try:
        from torchvision import datasets, transforms
    except ImportError as e:
        raise ConfigError("image folders need torchvision: pip install 'tapfinder[zoo]'") from e
    train_dir, val_dir = (path / "train", path / "val") if (path / "train").is_dir() else (path, path)
    tf = transforms.Compose([transforms.Resize((image_size, image_size)), transforms.ToTensor()])
    try:
        train, val = datasets.ImageFolder(str(train_dir), tf), datasets.ImageFolder(str(val_dir), tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise ConfigError(f"{path} is not an image folder with one sub-folder per class ({e})") from e
    if len(train.classes) < 2:
        raise ConfigError(f"{path} has {len(train.classes)} class folder(s); a classifier needs at least 2")
    return DataSpec(train, val, len(train.classes), "classification", (3, image_size, image_size))


def _user_file(path: Path) -> DataSpec:
    spec = importlib.util.spec_from_file_location(f"_tapfinder_data_{abs(hash(path.resolve()))}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"syntax error in {path}:{e.lineno}: {e.msg}") from e
    if not callable(getattr(module, "get_datasets", None)):
        raise ConfigError(f"{path} must define get_datasets() returning (train, val) datasets")
    train, val = module.get_datasets()
    x, y = train[0]
    task = "segmentation" if torch.as_tensor(y).dim() >= 1 else "classification"
    num_classes = getattr(module, "NUM_CLASSES", None)
    if num_classes is None:
        raise ConfigError(f"{path} must set NUM_CLASSES")
    return DataSpec(train, val, int(num_classes), task, tuple(x.shape))


def load_data(spec: str, image_size: int = 32) -> DataSpec:
    """Resolve ``--data``: a built-in name, an image folder, or a ``.py`` file.

    Raises:
        ConfigError: an unknown name, a missing path, a folder or file in the wrong format.
    """
    if spec == "mnist1d":
        return _mnist1d()
    if spec == "shapes":
        from .shapes_data import shapes_dataset
        return shapes_dataset()
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"--data {spec!r}: no such built-in set (mnist1d, shapes) or path")
    if path.suffix == ".py":
        return _user_file(path)
    if path.is_dir():
        return _folder(path, image_size)
    raise ConfigError(f"--data {spec!r}: give a folder of class sub-folders, a .py file, mnist1d or shapes")
