"""The analyses every rule shares, computed once per graph: dominators, the whole-signal chain,
long skips, decoder stages, depths, which node is each module's output, and whether the net is
plain."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx

from .depth import node_depths
from .dominance import decoder_stages, immediate_dominators, skip_sources, whole_signal

__all__ = ["Context", "build_context"]


@dataclass(frozen=True)
class Context:
    """Analyses shared by all rules, computed once per graph (rules must not recompute them)."""

    order: tuple  # reachable nodes in topological order
    idom: dict  # immediate dominators from the inputs
    whole: frozenset  # nodes that carry the whole signal
    skips: dict  # encoder-decoder skip source -> fusion node
    depth: dict  # node -> weighted-layer depth
    module_output: dict = field(default_factory=dict)  # module path -> node key
    decoder: frozenset = frozenset()  # decoder stages of an encoder-decoder with a dense output
    plain: bool = False  # no normalization, and no shortcut or branch passes a weighted layer

    def sees_whole(self, node) -> bool:
        """Whether a head at ``node`` sees the whole signal (a dominator, skip source or decoder
        stage)."""
        return node in self.whole or node in self.skips or node in self.decoder

    @cached_property
    def rank(self) -> dict:
        """Each node's position in ``order``."""
        return {n: i for i, n in enumerate(self.order)}

    @property
    def D(self) -> int:
        return max(self.depth.values(), default=0)


def build_context(G: nx.DiGraph) -> Context:
    """Compute the shared analyses (dominators, whole-signal chain, skips, depths) of ``G``."""
    idom = immediate_dominators(G)
    order = tuple(n for n in nx.topological_sort(G) if n in idom)
    module_output = {}
    for n in order:
        for path in G.nodes[n]["tf"].outputs_of:
            module_output.setdefault(path, n)
        for path in G.nodes[n]["tf"].aliases:
            module_output.setdefault(path, n)
    skips = skip_sources(G, idom)
    whole = frozenset(whole_signal(G, idom))
    return Context(
        order=order,
        idom=idom,
        whole=whole,
        skips=skips,
        depth=node_depths(G),
        module_output=module_output,
        decoder=frozenset(decoder_stages(G, idom, skips)),
        plain=_plain(G, order, whole),
    )


def _plain(G: nx.DiGraph, order: tuple, whole: frozenset) -> bool:
    """Whether every weighted layer carries the whole signal and nothing normalizes: each layer
    then learns only through every layer after it (DSN's plain nets)."""
    records = [G.nodes[n]["tf"] for n in order]
    weighted = [n for n, r in zip(order, records) if r.weighted]
    return (
        bool(weighted)
        and all(n in whole for n in weighted)
        and all(r.op != "norm" for r in records)
    )
