"""What the trainer learns from: a :class:`DataSpec` (train and val sets, the task, the shape)."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset

__all__ = ["DataSpec"]


@dataclass
class DataSpec:
    train: Dataset
    val: Dataset
    num_classes: int
    task: str  # "classification" | "segmentation"
    input_shape: tuple  # one sample, without batch
    description: str = ""  # one line for the preview: what trains and what validates
