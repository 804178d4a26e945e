"""Rule analyzers: each marks candidate transition points of a model graph with a reason.

One analyzer per file in this package, each a pure function ``analyze(G, ctx) -> list[Finding]``
registered with :func:`register_analyzer`. Every module in the package is imported on first use, so
adding a rule is adding one file; nothing else changes.

Examples
--------
>>> sorted(get_analyzers())
['attention', 'bottleneck', 'downsampling', 'norm_activation', 'skip_fusion', 'stage_boundary']
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Callable

import networkx as nx

from ..depth import node_depths
from ..dominance import decoder_stages, immediate_dominators, skip_sources, whole_signal

__all__ = ["Finding", "Kind", "Context", "register_analyzer", "get_analyzers", "is_registered",
           "build_context", "run_analyzers"]


class Kind(str, Enum):
    """What a finding says of its node, for machines (the reason says it for people)."""

    BEFORE_DROP = "before_drop"            # the last whole-signal tensor before the resolution drops
    AFTER_DROP = "after_drop"
    BEFORE_RISE = "before_rise"            # before a decoder's upsampling
    STAGE_END = "stage_end"
    BLOCK_END = "block_end"
    BEFORE_ATTENTION = "before_attention"
    AFTER_ATTENTION = "after_attention"
    BOTTLENECK = "bottleneck"
    FUSION = "fusion"                      # a residual add, a concatenation, a gating product
    SKIP_SOURCE = "skip_source"            # where an encoder-decoder long skip leaves
    REGIME_CHANGE = "regime_change"        # the activation or normalization changes


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


@dataclass(frozen=True)
class Context:
    """Analyses shared by all rules, computed once per graph (rules must not recompute them)."""

    order: tuple                      # reachable nodes in topological order
    idom: dict                        # immediate dominators from the inputs
    whole: frozenset                  # nodes that carry the whole signal
    skips: dict                       # encoder-decoder skip source -> fusion node
    depth: dict                       # node -> weighted-layer depth
    module_output: dict = field(default_factory=dict)   # module path -> node key
    decoder: frozenset = frozenset()  # decoder stages of an encoder-decoder with a dense output

    def sees_whole(self, node) -> bool:
        """Whether a head at ``node`` sees the whole signal (a dominator, skip source or decoder stage)."""
        return node in self.whole or node in self.skips or node in self.decoder

    @cached_property
    def rank(self) -> dict:
        """Each node's position in ``order``."""
        return {n: i for i, n in enumerate(self.order)}

    @property
    def D(self) -> int:
        return max(self.depth.values(), default=0)


Analyzer = Callable[[nx.DiGraph, Context], "list[Finding]"]
_ANALYZERS: dict[str, Analyzer] = {}
_LOADED = False


def register_analyzer(name: str) -> Callable[[Analyzer], Analyzer]:
    """Register ``analyze`` under ``name``; returns the function unchanged."""
    def decorate(fn: Analyzer) -> Analyzer:
        _ANALYZERS[name] = fn
        return fn
    return decorate


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True


def get_analyzers() -> dict[str, Analyzer]:
    """All registered analyzers by name."""
    _load_all()
    return dict(_ANALYZERS)


def is_registered(name: str) -> bool:
    _load_all()
    return name in _ANALYZERS


def build_context(G: nx.DiGraph) -> Context:
    """Compute the shared analyses (dominators, whole-signal chain, skips, depths) of ``G``."""
    idom = immediate_dominators(G)
    order = tuple(n for n in nx.topological_sort(G) if n in idom)
    module_output = {}
    for n in order:
        for path in G.nodes[n]["tf"]["outputs_of"]:
            module_output.setdefault(path, n)
        for path in G.nodes[n]["tf"]["aliases"]:
            module_output.setdefault(path, n)
    skips = skip_sources(G, idom)
    return Context(order=order, idom=idom, whole=frozenset(whole_signal(G, idom)), skips=skips,
                   depth=node_depths(G), module_output=module_output,
                   decoder=frozenset(decoder_stages(G, idom, skips)))


def run_analyzers(G: nx.DiGraph, ctx: Context, names: list[str] | None = None) -> list[Finding]:
    """Run the named analyzers (all by default) and return their findings in graph order."""
    analyzers = get_analyzers()
    findings: list[Finding] = []
    for name in names or sorted(analyzers):
        findings.extend(analyzers[name](G, ctx))
    return sorted(findings, key=lambda f: (ctx.rank.get(f.node, len(ctx.rank)), f.rule))
