"""A run's curves as a picture: every head's validation score and every loss term, by epoch."""

from __future__ import annotations

import json
from pathlib import Path

from tapfinder.errors import ConfigError

from .baseline_check import baseline_folder, deepest_folder
from .metrics import main_score_key

__all__ = ["plot_run"]


def _history(folder: Path) -> list[dict]:
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{folder} has no metrics.jsonl; give the folder of a training run")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ConfigError(f"{path} holds no epoch yet; train first")
    return rows


def plot_run(folder: str | Path, out: str | Path) -> Path:
    """Draw the main head against the aux heads (validation) and the loss terms (training) of the
    run in ``folder`` to the PNG ``out``, with the main head of its baseline check's run without
    heads where it has one (dashed) and of the check's retry (dotted); returns its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ConfigError("plotting needs matplotlib: pip install matplotlib") from e
    rows, out = _history(Path(folder)), Path(out)
    if out.is_dir() or not out.parent.is_dir():
        raise ConfigError(f"cannot write {out}: give a file path in a folder that exists")
    epochs = [r["epoch"] for r in rows]
    scores = [k for k in rows[-1] if k.startswith(("val_acc_", "val_miou"))]
    terms = [k for k in rows[-1] if k.startswith("loss_")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key in scores:
        main = key in ("val_acc_main", "val_miou")
        left.plot(
            epochs,
            [r.get(key) for r in rows],
            label=key.removeprefix("val_"),
            linewidth=2.5 if main else 1.2,
        )
    left.set(xlabel="epoch", ylabel="validation", title="main head vs aux heads")
    for key in terms:
        right.plot(epochs, [r.get(key) for r in rows], label=key.removeprefix("loss_"))
    # a checked run: the same run without heads, whose main head the check compared (dashed), and
    # its retry with the deepest point alone (dotted)
    for other, style in (
        (baseline_folder(folder), {"linestyle": "--", "label": "main without heads"}),
        (deepest_folder(folder), {"linestyle": ":", "label": "main, deepest point alone"}),
    ):
        alone = _history(other) if (other / "metrics.jsonl").is_file() else []
        if alone:
            x = [r["epoch"] for r in alone]
            key = main_score_key(alone[-1])
            left.plot(x, [r.get(key) for r in alone], linewidth=2.0, color="black", **style)
            right.plot(x, [r.get("loss_main") for r in alone], color="black", **style)
    right.set(xlabel="epoch", ylabel="training loss", title="loss terms")
    for axes in (left, right):
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out)
    return out
