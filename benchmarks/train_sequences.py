"""Deep supervision on sequences, paired seeds: a per-token task and a recurrent classifier.

``gpt-text``: ``gpt_char`` (a GPT-style causal LM, 8 pre-norm blocks) on the built-in ``text`` set
(windows of the standard library's docstrings), next-character loss at every position; the aux
heads predict the next character at intermediate blocks. ``lstm-mnist1d``: ``lstm1d4`` (4 stacked
LSTM layers) classifying MNIST-1D signals read as 40-step sequences. Arms and the protocol are in
:mod:`benchmarks.paired` (Adam, OneCycle max lr 1e-3, batch 128); besides the main head's accuracy,
every head's validation metrics at the end are kept (``final``: ``val_ce_*``, the cross-entropy
per head, on the token task), and the table below the paired one prints them per seed.

    python benchmarks/train_sequences.py [--seeds 3] [--workers 2] [--regimes gpt-text]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, print_table  # noqa: E402
from benchmarks.paired import Regime, main  # noqa: E402

_ARMS = ("baseline", "auto", "dsn")
REGIMES = {
    "gpt-text": Regime("gpt_char", "text", 12, _ARMS),
    "lstm-mnist1d": Regime("lstm1d4", "mnist1d", 30, _ARMS),
}


def per_head(name: str = "train_sequences") -> None:
    """Every head's final validation metrics, per seed, from the results file."""
    results = json.loads((RESULTS / f"{name}.json").read_text())["results"]
    rows = []
    for r in sorted(results, key=lambda r: (r["regime"], r["arm"], r["seed"])):
        final = r.get("final", {})
        metric = "val_ce_" if any(k.startswith("val_ce_") for k in final) else "val_acc_"
        heads = {k[len(metric) :]: v for k, v in final.items() if k.startswith(metric)}
        shown = " ".join(f"{h} {v:.3f}" for h, v in sorted(heads.items()))
        rows.append([r["regime"], r["arm"], r["seed"], metric.strip("_")[4:], shown])
    print_table("every head at the end", ["regime", "arm", "seed", "metric", "heads"], rows)


def _name(argv: list[str]) -> str:
    """The ``--name`` given to :func:`benchmarks.paired.main`.

    >>> _name(["x", "--name", "a"]), _name(["x", "--name=b"]), _name(["x"])
    ('a', 'b', 'train_sequences')
    """
    for i, arg in enumerate(argv):
        if arg == "--name" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--name="):
            return arg.split("=", 1)[1]
    return "train_sequences"


if __name__ == "__main__":
    main(REGIMES, ",".join(REGIMES), "train_sequences", __doc__)
    per_head(_name(sys.argv))
