"""Where a run's epoch rows go besides ``metrics.jsonl``: a CSV table and TensorBoard scalars.

Every row holds every term (``loss_main``, ``loss_aux0``, ..., ``val_acc_aux0``); :func:`make_logs`
turns ``TrainConfig.log`` (``"csv"``, ``"tensorboard"``, or both, comma-separated) into writers.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tapfinder.errors import ConfigError

__all__ = ["LOGS", "CSVLog", "TensorBoardLog", "make_logs"]

LOGS = ("csv", "tensorboard")


class CSVLog:
    """``metrics.csv``: one row per epoch, a column per key seen so far, rewritten whole each epoch
    (through a temporary file) so a resumed run's table matches its history."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / "metrics.csv"

    def write(self, history: list[dict]) -> None:
        columns = list(dict.fromkeys(k for row in history for k in row))
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(history)
        os.replace(tmp, self.path)

    def close(self) -> None:
        pass


class TensorBoardLog:
    """TensorBoard scalars under ``tensorboard/``, one step per epoch."""

    def __init__(self, folder: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # the package is an extra
            raise ConfigError(
                "`log=tensorboard` needs the tensorboard package: pip install "
                "'tapfinder[tensorboard]'"
            ) from e
        self.writer = SummaryWriter(str(Path(folder) / "tensorboard"))

    def write(self, history: list[dict]) -> None:
        row = history[-1]
        for key, value in row.items():
            if isinstance(value, (int, float)) and key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def make_logs(spec: str, folder: Path | None) -> list:
    """The writers ``spec`` names (``""``: none), writing into ``folder``.

    >>> make_logs("", None)
    []
    >>> make_logs("wandb", None)
    Traceback (most recent call last):
    tapfinder.errors.ConfigError: unknown `log` 'wandb'; use csv, tensorboard (comma-separated)
    """
    names = [n.strip() for n in spec.split(",") if n.strip()]
    for name in names:
        if name not in LOGS:
            raise ConfigError(f"unknown `log` {name!r}; use {', '.join(LOGS)} (comma-separated)")
    if folder is None:
        return []
    return [{"csv": CSVLog, "tensorboard": TensorBoardLog}[name](folder) for name in names]
