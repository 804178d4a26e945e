"""The tail of a plain net: where the layers that only the main head would train begin.

In a plain net (:attr:`~tapfinder.context.Context.plain`: no normalization, no shortcut or branch
past any weighted layer) the deepest whole-signal module output within
:data:`~tapfinder.depth.OUTPUT_FRAC` of the depth (where the selector's window ends) is a
candidate; the selector adds it where the layers after the other points are many
(``docs/selection.md``, "Plain nets").
"""

from __future__ import annotations

import networkx as nx

from ..context import Context
from ..depth import OUTPUT_FRAC
from .findings import Finding, Kind, register_analyzer


@register_analyzer("plain_tail")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    if not ctx.plain:
        return []
    limit = OUTPUT_FRAC * ctx.D
    ends = [
        n
        for n in ctx.order
        if n in ctx.whole
        and ctx.depth[n] <= limit
        and G.nodes[n]["tf"].outputs_of
        and G.nodes[n]["tf"].shape is not None
    ]
    if not ends:
        return []
    node = max(ends, key=lambda n: (ctx.depth[n], ctx.rank[n]))
    after = ctx.D - ctx.depth[node]
    return [
        Finding(
            node,
            "plain_tail",
            f"ends a plain net's tail: {after} weighted layers after it reach the output",
            1.0,
            Kind.PLAIN_TAIL,
        )
    ]
