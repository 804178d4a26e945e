"""The frontend chain: torch.fx, then torch.export (non-strict), then a recorded forward pass.

Each frontend produces the same graph type with the same naming, so the rules and the selector run
unchanged; the graph records which one succeeded (``G.graph["method"]``) and why the earlier ones
failed (``G.graph["fallbacks"]``, one line each). What the frontends print or log themselves
(torch.export prints the partial graph of a failed export) never reaches the user's terminal.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Callable, Iterator

import networkx as nx
from torch import nn

from ..errors import TraceError
from ..progress import report

__all__ = ["FRONTENDS", "build_model_graph", "silenced"]


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Within the block nothing reaches stdout or stderr from Python: prints, warnings and log
    records are dropped (the chain reports each frontend's failure in one line instead)."""
    before = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)


def _fx(model, inputs):
    from .fx import build_fx_graph

    return build_fx_graph(model, inputs)


def _export(model, inputs):
    from .export import build_export_graph

    return build_export_graph(model, inputs)


def _record(model, inputs):
    from .record import build_recorded_graph

    return build_recorded_graph(model, inputs)


_STAGES = {
    "fx": "tracing with torch.fx",
    "export": "tracing with torch.export",
    "record": "recording a forward pass",
}
FRONTENDS: dict[str, Callable[[nn.Module, tuple], nx.DiGraph]] = {
    "fx": _fx,
    "export": _export,
    "record": _record,
}


def build_model_graph(
    model: nn.Module,
    inputs: tuple,
    methods: tuple[str, ...] = ("fx", "export", "record"),
) -> nx.DiGraph:
    """The graph from the first frontend in ``methods`` that succeeds.

    Raises:
        ConfigError: unknown method. TraceError: every frontend failed (each one's reason included).
    """
    from ..errors import ConfigError

    unknown = [m for m in methods if m not in FRONTENDS]
    if unknown:
        raise ConfigError(f"unknown graph method {unknown[0]!r}; use one of {', '.join(FRONTENDS)}")
    failures: list[tuple[str, str]] = []
    for method in methods:
        report(_STAGES.get(method, method))
        try:
            with silenced():
                G = FRONTENDS[method](model, inputs)
        except TraceError as e:
            if method == "record":  # a real forward failed: the model's own error, not a tracer's
                raise
            failures.append((method, str(e).splitlines()[0]))
            continue
        G.graph["fallbacks"] = failures
        return G
    detail = "; ".join(f"{m}: {reason}" for m, reason in failures)
    raise TraceError(f"no frontend could build a graph of {type(model).__name__} ({detail})")
