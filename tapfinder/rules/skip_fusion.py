"""Skip connections and fusion points: where branches merge, and where long skips leave.

A fusion node merges two or more inputs that both carry the signal: a residual add, a concatenation
of multi-branch outputs (Inception, DenseNet), a gating product. Encoder-decoder skip sources
(UNet levels) come from the whole-signal analysis in :mod:`tapfinder.dominance`.
"""

from __future__ import annotations

import networkx as nx

from ..context import Context
from .findings import Finding, Kind, register_analyzer

_FUSION_OPS = {
    "add": ("residual add merges", 1.0),
    "cat": ("concatenation fuses", 1.5),
    "mul": ("product gates", 0.5),
}


@register_analyzer("skip_fusion")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    findings = []
    for n in ctx.order:
        op = G.nodes[n]["tf"].op
        merged = [p for p in G.predecessors(n) if p in ctx.idom]
        if op in _FUSION_OPS and len(merged) >= 2:
            text, weight = _FUSION_OPS[op]
            findings.append(
                Finding(n, "skip_fusion", f"{text} {len(merged)} branches", weight, Kind.FUSION)
            )
        if n in ctx.skips:
            findings.append(
                Finding(
                    n,
                    "skip_fusion",
                    f"encoder-decoder skip source (fused again at {ctx.skips[n]})",
                    2.5,
                    Kind.SKIP_SOURCE,
                )
            )
    return findings
