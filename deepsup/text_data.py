"""A built-in text set for per-token tasks: English prose that ships with Python, read off the
docstrings of a fixed list of standard-library modules (no download), as characters.

Each sample is ``CONTEXT`` characters as ids and the same window shifted by one as targets (next-
character prediction), windows half overlapping; the first 90 % of the text trains, the rest
validates. The vocabulary is printable ASCII and the newline.
"""

from __future__ import annotations

import importlib
import inspect

import torch
from torch.utils.data import TensorDataset

__all__ = ["VOCAB", "CONTEXT", "stdlib_text", "encode", "text_dataset"]

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
CONTEXT = 64
_MODULES = (
    "argparse",
    "collections",
    "dataclasses",
    "enum",
    "functools",
    "inspect",
    "itertools",
    "json",
    "logging",
    "pathlib",
    "re",
    "string",
    "subprocess",
    "textwrap",
    "typing",
    "unittest",
    "urllib.parse",
    "email.message",
    "http.client",
    "csv",
    "datetime",
    "decimal",
    "fractions",
    "heapq",
    "shutil",
    "tempfile",
    "threading",
    "zipfile",
)


def stdlib_text() -> str:
    """The docstrings of the modules above and their public members, in a fixed order."""
    parts = []
    for name in _MODULES:
        module = importlib.import_module(name)
        parts.append(inspect.getdoc(module) or "")
        for attr in sorted(getattr(module, "__all__", None) or dir(module)):
            member = getattr(module, attr, None)
            if not attr.startswith("_") and (inspect.isclass(member) or inspect.isfunction(member)):
                parts.append(inspect.getdoc(member) or "")
    return "\n\n".join(p for p in dict.fromkeys(parts) if p)


def encode(text: str) -> torch.Tensor:
    """Character ids in :data:`VOCAB`; other characters are left out.

    >>> encode("Hi!\\n").tolist()
    [41, 74, 2, 0]
    """
    index = {c: i for i, c in enumerate(VOCAB)}
    return torch.tensor([index[c] for c in text if c in index], dtype=torch.long)


def text_dataset(train: int = 4000, val: int = 500) -> tuple[TensorDataset, TensorDataset]:
    """(train, val) windows of :data:`CONTEXT` ids with their next-character targets."""
    ids = encode(stdlib_text())
    cut = int(len(ids) * 0.9)

    def windows(part: torch.Tensor, most: int) -> TensorDataset:
        stride = CONTEXT // 2
        n = min(most, (len(part) - 1 - CONTEXT) // stride + 1)
        starts = torch.arange(n) * stride
        x = torch.stack([part[s : s + CONTEXT] for s in starts])
        y = torch.stack([part[s + 1 : s + CONTEXT + 1] for s in starts])
        return TensorDataset(x, y)

    return windows(ids[:cut], train), windows(ids[cut:], val)
