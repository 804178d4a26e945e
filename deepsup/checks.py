"""What the trainer needs of a data set, checked before anything trains.

Every item must be an ``(input, target)`` pair; inputs a tensor (channels first for images), or a
tuple or dict of tensors, of one shape; targets integer ids in ``[0, num_classes)``: one per
sample (classification), per pixel (segmentation) or per position (token tasks), ``-100`` for
positions left out. A ``TensorDataset`` (or a subset of one) is checked whole; other datasets on
up to :data:`SAMPLES` items spread over them.
"""

from __future__ import annotations

import torch
from torch.utils._pytree import tree_leaves
from torch.utils.data import Dataset, Subset, TensorDataset

from tapfinder.errors import ConfigError

__all__ = ["check_dataset", "sample_pair", "input_shape", "SAMPLES", "IGNORE"]

IGNORE = -100  # a target id the losses skip (padding), as in torch's cross_entropy

SAMPLES = 256
_IMAGE_CHANNELS = (1, 3, 4)


def _indices(dataset: Dataset) -> list[int]:
    n = len(dataset)
    if n <= SAMPLES:
        return list(range(n))
    return sorted({round(i * (n - 1) / (SAMPLES - 1)) for i in range(SAMPLES)})


def _tensors(dataset: Dataset) -> tuple | None:
    """The whole (inputs, targets) of a TensorDataset, or of a Subset of one; else None."""
    if isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorDataset):
        x, y, *_ = dataset.dataset.tensors
        return x[dataset.indices], y[dataset.indices]
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return dataset.tensors
    return None


def sample_pair(item, where: str) -> tuple:
    """(input tensor, target tensor) of one dataset item, or a one-line error saying what it is."""
    if isinstance(item, dict):
        keys = ", ".join(map(str, list(item)[:6]))
        raise ConfigError(
            f"{where} is a dict (keys {keys}); the trainer takes (input, target) pairs: "
            "make the dataset's __getitem__ return (x, y)"
        )
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        what = f"a {type(item).__name__}" + (
            f" of {len(item)}" if isinstance(item, (tuple, list)) else ""
        )
        raise ConfigError(f"{where} is {what}; the trainer takes (input, target) pairs")
    x, y = item
    leaves = tree_leaves(x)
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        raise ConfigError(
            f"{where}: the input is a {type(x).__name__}, not a tensor (or a tuple or dict of "
            "tensors); convert it in the dataset (torch.as_tensor, or torchvision's ToTensor)"
        )
    return x, torch.as_tensor(y)


def input_shape(x) -> tuple:
    """A sample input's shape; ``()`` for a tuple or dict of tensors (the model file says more)."""
    return tuple(x.shape) if isinstance(x, torch.Tensor) else ()


def _shapes(x) -> list:
    return [tuple(t.shape) for t in tree_leaves(x)]


def _check_input(x, where: str) -> None:
    if not isinstance(x, torch.Tensor):
        return  # the parts of a tuple or dict input: the model says what it takes
    if not x.is_floating_point():
        return  # token ids and the like: the model says what it takes
    if x.dim() == 3 and x.shape[-1] in _IMAGE_CHANNELS and min(x.shape[:2]) > max(_IMAGE_CHANNELS):
        raise ConfigError(
            f"{where}: the input {tuple(x.shape)} looks like a channels-last image "
            f"[H, W, C]; give images channels first [C, H, W] (x.permute(2, 0, 1))"
        )


def _check_targets(
    y: torch.Tensor, x_shape: tuple, task: str, num_classes: int, where: str
) -> None:
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise ConfigError(
            f"{where}: targets are {str(y.dtype).replace('torch.', '')}; give integer class ids "
            "(torch.long)"
        )
    if task == "token" and tuple(y.shape[-len(x_shape) :]) != tuple(x_shape):
        raise ConfigError(
            f"{where}: targets of shape {tuple(y.shape)} for tokens of {tuple(x_shape)}; a token "
            "task holds one target id per input position"
        )
    if task == "segmentation" and tuple(y.shape[-len(x_shape) + 1 :]) != tuple(x_shape[1:]):
        raise ConfigError(
            f"{where}: a target map of shape {tuple(y.shape)} for an input of {tuple(x_shape)}; "
            "a segmentation target holds one class id per pixel of the input"
        )
    y = y[y != IGNORE]  # positions left out of the loss (padding)
    if y.numel() == 0:
        return
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ConfigError(
            f"{where}: label {bad} is outside 0..{num_classes - 1} (NUM_CLASSES = {num_classes}); "
            "labels are class ids from 0 to NUM_CLASSES - 1"
        )


def check_dataset(dataset: Dataset, name: str, task: str, num_classes: int) -> None:
    """Refuse a data set the trainer cannot use, in one line naming the item (see the module
    docstring).

    >>> check_dataset(TensorDataset(torch.zeros(4, 1, 8), torch.tensor([0, 1, 2, 3])), "train",
    ...               "classification", 3)
    Traceback (most recent call last):
    tapfinder.errors.ConfigError: train: label 3 is outside 0..2 (NUM_CLASSES = 3); labels are ...
    """
    if len(dataset) == 0:
        raise ConfigError(f"the {name} set is empty")
    whole = _tensors(dataset)
    if whole is not None:
        x, y = whole
        _check_input(x[0], f"{name}[0]")
        _check_targets(y, tuple(x.shape[1:]), task, num_classes, name)
        return
    first_shapes = None
    for i in _indices(dataset):
        where = f"{name}[{i}]"
        x, y = sample_pair(dataset[i], where)
        first_shapes = first_shapes or _shapes(x)
        if _shapes(x) != first_shapes:
            raise ConfigError(
                f"{where}: input of shape {_shapes(x)}, but {name}[0] has {first_shapes}; "
                "the trainer batches samples of one shape"
            )
        _check_input(x, where)
        if isinstance(x, torch.Tensor) or task == "classification":
            _check_targets(y, input_shape(x), task, num_classes, where)
