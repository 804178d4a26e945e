"""Attention: the points before and after an attention mechanism.

Recognised: ``nn.MultiheadAttention`` and other attention leaf modules, ``scaled_dot_product_attention``,
and the hand-written form ``softmax(Q·Kᵀ)·V`` (a softmax fed by a matmul, possibly through scaling
or masking, that feeds a matmul). *Before* is where queries, keys and values branch off the signal
(the attention op's immediate dominator); *after* is the output of the module that holds it.
"""
from __future__ import annotations

import networkx as nx

from . import Context, Finding, register_analyzer

_PASS_THROUGH = {"mul", "add", "identity", "reshape", "permute", "split"}


def _reaches(G, start, direction, kind, limit=4):
    """Whether an op of ``kind`` is within ``limit`` pass-through steps of ``start``."""
    frontier = [start]
    for _ in range(limit):
        nxt = []
        for n in frontier:
            for m in (G.predecessors(n) if direction == "up" else G.successors(n)):
                op = G.nodes[m]["tf"]["op"]
                if op == kind:
                    return True
                if op in _PASS_THROUGH:
                    nxt.append(m)
        frontier = nxt
    return False


def _cores(G, ctx):
    for n in ctx.order:
        op = G.nodes[n]["tf"]["op"]
        if op == "attention":
            yield n, G.nodes[n]["tf"]["target"]
        elif op == "softmax" and _reaches(G, n, "up", "matmul") and _reaches(G, n, "down", "matmul"):
            yield n, "softmax(QKᵀ)V"


def _holder_output(G, ctx, core):
    """Output node of the innermost module that encloses ``core`` and returns a tensor."""
    path = G.nodes[core]["tf"]["module"]
    if G.nodes[core]["tf"]["op"] == "attention" and G.nodes[core]["tf"]["outputs_of"]:
        path = path.rsplit(".", 1)[0] if "." in path else path
    while path:
        node = ctx.module_output.get(path)
        if node is not None and node != core and G.nodes[node]["tf"]["shape"] is not None:
            return node, path
        path = path.rsplit(".", 1)[0] if "." in path else ""
    succ = [s for s in G.successors(core) if G.nodes[s]["tf"]["shape"] is not None]
    return (succ[0], succ[0]) if succ else (None, None)


@register_analyzer("attention")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    findings = []
    for core, what in _cores(G, ctx):
        before = ctx.idom.get(core)
        if before is not None:
            findings.append(Finding(before, "attention", f"before attention ({what} at {core})", 1.5))
        after, holder = _holder_output(G, ctx, core)
        if after is not None:
            findings.append(Finding(after, "attention", f"after attention ({what} in {holder})", 1.5))
    return findings
