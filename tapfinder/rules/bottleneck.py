"""Bottlenecks: where the features are compressed between two wider representations.

Following each node's first input backwards and first consumer forwards past nodes of equal size,
a node is a bottleneck when the features before and after are both larger (in elements per sample)
than its own and it is the last node of its equal-size run: the narrow end of a MobileNet inverted
residual, the squeeze of a ResNet bottleneck, the deepest level of a UNet.
"""

from __future__ import annotations

import networkx as nx

from ..context import Context
from ..graph import describe, numel_per_sample
from .findings import Finding, Kind, register_analyzer


def _first(nodes, rank):
    nodes = [n for n in nodes if n in rank]
    return min(nodes, key=rank.__getitem__) if nodes else None


@register_analyzer("bottleneck")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    rank = ctx.rank
    size = {n: numel_per_sample(G.nodes[n]["tf"]) for n in ctx.order}
    up: dict = {}
    for n in ctx.order:
        p = _first(G.predecessors(n), rank)
        up[n] = None if p is None or size[p] is None else (size[p] if size[p] != size[n] else up[p])
    down: dict = {}
    for n in reversed(ctx.order):
        s = _first(G.successors(n), rank)
        down[n] = (
            None if s is None or size[s] is None else (size[s] if size[s] != size[n] else down[s])
        )
    findings = []
    for n in ctx.order:
        s = _first(G.successors(n), rank)
        if size[n] is None or s is None or size[s] == size[n] or up[n] is None or down[n] is None:
            continue
        if up[n] > size[n] < down[n]:
            findings.append(
                Finding(
                    n,
                    "bottleneck",
                    f"bottleneck: features compressed to {describe(G.nodes[n]['tf'])} "
                    f"({size[n] / max(up[n], down[n]):.0%} of the wider side)",
                    1.0,
                    Kind.BOTTLENECK,
                )
            )
    return findings
