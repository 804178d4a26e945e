"""Deep supervision on sequences, paired seeds: a per-token task and a recurrent classifier.

``gpt-text``: ``gpt_char`` (a GPT-style causal LM, 8 pre-norm blocks) on the built-in ``text`` set
(windows of the standard library's docstrings), next-character loss at every position; the aux
heads predict the next character at intermediate blocks. ``lstm-mnist1d``: ``lstm1d4`` (4 stacked
LSTM layers) classifying MNIST-1D signals read as 40-step sequences. Arms and the protocol are in
:mod:`benchmarks.paired` (Adam, OneCycle max lr 1e-3, batch 128); besides the main head's accuracy,
every head's validation metrics at the end are kept (``final``: ``val_ce_*``, the cross-entropy
per head, on the token task); ``benchmarks/report.py`` tabulates them per seed.

    python benchmarks/train_sequences.py [--seeds 3] [--workers 2] [--regimes gpt-text]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.paired import Regime, main  # noqa: E402

# ``auto`` is one of these on each task (dsn per token, dks for classification): not run twice
_ARMS = ("baseline", "dks", "dsn")
REGIMES = {
    "gpt-text": Regime("gpt_char", "text", 12, _ARMS),
    "lstm-mnist1d": Regime("lstm1d4", "mnist1d", 30, _ARMS),
}


if __name__ == "__main__":
    main(REGIMES, ",".join(REGIMES), "train_sequences", __doc__)
