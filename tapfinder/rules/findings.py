"""What a rule says of a node: a :class:`Finding` of one :class:`Kind`, with a reason and a weight,
and the registry rules enter with :func:`register_analyzer`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Callable

import networkx as nx

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["Finding", "Kind", "register_analyzer", "registered", "Analyzer"]


class Kind(str, Enum):
    """What a finding says of its node, for machines (the reason says it for people)."""

    BEFORE_DROP = "before_drop"  # the last whole-signal tensor before the resolution drops
    AFTER_DROP = "after_drop"
    BEFORE_RISE = "before_rise"  # before a decoder's upsampling
    STAGE_END = "stage_end"
    BLOCK_END = "block_end"
    BEFORE_ATTENTION = "before_attention"
    AFTER_ATTENTION = "after_attention"
    BOTTLENECK = "bottleneck"
    FUSION = "fusion"  # a residual add, a concatenation, a gating product
    SKIP_SOURCE = "skip_source"  # where an encoder-decoder long skip leaves
    REGIME_CHANGE = "regime_change"  # the activation or normalization changes
    PLAIN_TAIL = "plain_tail"  # the deepest point a plain net's tail may be supervised from


# the name a finding shows under "rules" where it is not its rule's own (a rise is no drop)
_LABELS = {Kind.BEFORE_RISE: "upsampling"}


@dataclass(frozen=True)
class Finding:
    """One rule's vote for one node: why it is a transition point, and how strongly.

    ``rule`` is the analyzer (a node's score sums each analyzer's strongest weight there);
    ``label`` the name shown for it: the rule's, or the kind's where that differs.
    """

    node: str
    rule: str
    reason: str
    weight: float
    kind: Kind

    def __post_init__(self):
        if not self.reason:
            raise ValueError(f"finding for {self.node!r} by {self.rule!r} needs a reason")
        if self.weight <= 0:
            raise ValueError(f"finding weight must be positive, got {self.weight}")
        if not isinstance(self.kind, Kind):
            raise ValueError(f"finding kind must be a Kind, got {self.kind!r}")

    @property
    def label(self) -> str:
        return _LABELS.get(self.kind, self.rule)


Analyzer = Callable[[nx.DiGraph, "Context"], "list[Finding]"]
_ANALYZERS: dict[str, Analyzer] = {}


def register_analyzer(name: str) -> Callable[[Analyzer], Analyzer]:
    """Register ``analyze`` under ``name``; returns the function unchanged."""

    def decorate(fn: Analyzer) -> Analyzer:
        _ANALYZERS[name] = fn
        return fn

    return decorate


def registered() -> dict[str, Analyzer]:
    """The analyzers registered so far, by name."""
    return dict(_ANALYZERS)
