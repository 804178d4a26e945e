"""Small metric helpers: running means, top-1 accuracy, confusion matrix and mIoU."""

from __future__ import annotations

import torch

__all__ = ["Meter", "accuracy", "confusion", "miou", "main_score_key"]


class Meter:
    """Sample-weighted running means of named values."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict, n: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * n
        self.count += n

    def means(self) -> dict:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}

    def reduced(self) -> dict:
        """Means over every process of a distributed run (plain means for one process)."""
        from .distributed import all_reduce_sums

        sums, count = all_reduce_sums(self.sums, self.count)
        return {k: v / max(count, 1) for k, v in sums.items()}


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Top-1 accuracy, classes on axis 1; targets of -100 (positions left out) do not count."""
    kept = target != -100
    return float(((logits.argmax(1) == target) & kept).sum() / kept.sum().clamp(min=1))


def confusion(
    logits: torch.Tensor, target: torch.Tensor, k: int, conf: torch.Tensor | None = None
) -> torch.Tensor:
    if logits.shape[2:] != target.shape[1:]:
        logits = torch.nn.functional.interpolate(
            logits.float(), size=target.shape[1:], mode="bilinear", align_corners=False
        )
    pred = logits.argmax(1).flatten()
    idx = target.flatten() * k + pred
    counts = torch.bincount(idx, minlength=k * k).reshape(k, k)
    return counts if conf is None else conf + counts


def miou(conf: torch.Tensor) -> float:
    """Mean intersection over union over classes present in the targets or predictions.

    >>> round(miou(torch.tensor([[2, 0], [1, 1]])), 4)
    0.5833
    """
    inter = conf.diag().float()
    union = conf.sum(0).float() + conf.sum(1).float() - inter
    present = union > 0
    return float((inter[present] / union[present]).mean())


def main_score_key(row: dict) -> str:
    """The metrics row's key of the main head's validation score: top-1, or mIoU for segmentation.

    >>> main_score_key({"val_acc_main": 0.9, "val_acc_aux0": 0.8})
    'val_acc_main'
    >>> main_score_key({"val_miou": 0.5})
    'val_miou'
    """
    return "val_acc_main" if "val_acc_main" in row else "val_miou"
