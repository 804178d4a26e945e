"""tapfinder: find where to attach deep-supervision heads in any PyTorch model.

>>> from tapfinder import select_points, attach, TapPoint, Selection   # doctest: +SKIP
"""

from __future__ import annotations

from .errors import ConfigError, NodeNotFoundError, TapfinderError, TraceError
from .points import TapPoint
from .selection import Selection

__all__ = [
    "select_points",
    "attach",
    "node_names",
    "Selection",
    "TapPoint",
    "TapfinderError",
    "ConfigError",
    "TraceError",
    "NodeNotFoundError",
]


def __getattr__(name):
    # select_points pulls in torch (seconds to import); load it only when asked for
    if name in ("select_points", "node_names", "build_graph"):
        from . import api

        return getattr(api, name)
    if name == "attach":
        from .taps import attach

        return attach
    raise AttributeError(f"module 'tapfinder' has no attribute {name!r}")
