"""Stages of a long analysis, reported to whoever listens (the CLI shows them in a spinner).

The library calls :func:`report` as it enters a stage ("building the model", "tracing with
torch.fx", "propagating shapes", "running the rules"); :func:`reporting` installs a listener for a
block. With no listener, reporting costs one lookup and prints nothing.

>>> seen = []
>>> with reporting(seen.append):
...     report("tracing")
>>> report("ignored"), seen
(None, ['tracing'])
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

__all__ = ["report", "reporting"]

_LISTENER: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "tapfinder_progress", default=None
)


def report(stage: str) -> None:
    """Tell the listener, if any, that a stage begins."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(stage)


@contextlib.contextmanager
def reporting(listener: Callable[[str], None]) -> Iterator[None]:
    """Send the stages reported within the block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
