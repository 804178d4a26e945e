"""The one exception family users see.

Every error a user can cause (a bad model name, an untraceable model, a bad ``points`` value, a bad
input shape) raises a subclass of :class:`TapfinderError` whose message names the thing and the next
step. The CLI prints the message in one line and exits with code 2.
"""

from __future__ import annotations

__all__ = ["TapfinderError", "ConfigError", "TraceError", "NodeNotFoundError"]


class TapfinderError(Exception):
    """Base class of every user-facing tapfinder error."""


class ConfigError(TapfinderError):
    """A value the user gave cannot be used (bad name, bad shape, bad ``points``)."""


class TraceError(TapfinderError):
    """The model could not be turned into a graph, or its shapes could not be propagated."""


class NodeNotFoundError(ConfigError):
    """A point named by the user is not a node of the model's graph."""
