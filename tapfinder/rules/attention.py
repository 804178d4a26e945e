"""Attention: the points before and after an attention mechanism.

Recognised: ``nn.MultiheadAttention`` and other attention leaf modules,
``scaled_dot_product_attention``,
and the hand-written form ``softmax(Q·Kᵀ)·V`` (a softmax fed by a matmul, possibly through scaling
or masking, that feeds a matmul). *Before* is where queries, keys and values branch off the signal
(the attention op's nearest dominator outside the module that holds it); *after* is the output of
the module that holds it.
"""

from __future__ import annotations

import networkx as nx

from ..context import Context
from .findings import Finding, Kind, register_analyzer

_PASS_THROUGH = {"mul", "add", "identity", "reshape", "permute", "split"}


def _reach(G, start, direction, kind, limit=4):
    """The first op of ``kind`` within ``limit`` pass-through steps of ``start``, or None."""
    frontier = [start]
    for _ in range(limit):
        nxt = []
        for n in frontier:
            for m in G.predecessors(n) if direction == "up" else G.successors(n):
                op = G.nodes[m]["tf"].op
                if op == kind:
                    return m
                if op in _PASS_THROUGH:
                    nxt.append(m)
        frontier = nxt
    return None


def _cores(G, ctx):
    """(node where queries, keys and values have all arrived, label) per attention."""
    for n in ctx.order:
        op = G.nodes[n]["tf"].op
        if op == "attention":
            yield n, G.nodes[n]["tf"].target
        elif op == "softmax" and _reach(G, n, "up", "matmul"):
            out = _reach(G, n, "down", "matmul")
            if out is not None:
                yield out, "softmax(QKᵀ)V"


def _holder_output(G, ctx, core):
    """(node, label) after the attention: a leaf attention module's own (first tensor) output, else
    the output of the innermost enclosing module that returns a tensor."""
    info = G.nodes[core]["tf"]
    if info.op == "attention" and info.outputs_of:  # a leaf module such as nn.MultiheadAttention
        if info.shape is not None:
            return core, info.outputs_of[0]
        succ = [s for s in G.successors(core) if G.nodes[s]["tf"].shape is not None]
        return (succ[0], info.outputs_of[0]) if succ else (None, None)
    path = info.module
    while path:
        node = ctx.module_output.get(path)
        if node is not None and node != core and G.nodes[node]["tf"].shape is not None:
            return node, path
        path = path.rsplit(".", 1)[0] if "." in path else ""
    succ = [s for s in G.successors(core) if G.nodes[s]["tf"].shape is not None]
    return (succ[0], succ[0]) if succ else (None, None)


def _entry(G, ctx, core):
    """Where the signal enters the attention: up the dominator chain out of the module holding
    it."""
    holder = G.nodes[core]["tf"].module
    node = ctx.idom.get(core)
    while node is not None and (
        G.nodes[node]["tf"].shape is None
        or (
            holder
            and (
                G.nodes[node]["tf"].module == holder
                or G.nodes[node]["tf"].module.startswith(holder + ".")
            )
        )
    ):
        node = ctx.idom.get(node)
    return node


@register_analyzer("attention")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    findings = []
    for core, what in _cores(G, ctx):
        before = _entry(G, ctx, core)
        if before is not None:
            findings.append(
                Finding(
                    before,
                    "attention",
                    f"before attention ({what} at {core})",
                    1.5,
                    Kind.BEFORE_ATTENTION,
                )
            )
        after, holder = _holder_output(G, ctx, core)
        if after is not None:
            findings.append(
                Finding(
                    after,
                    "attention",
                    f"after attention ({what} in {holder})",
                    1.5,
                    Kind.AFTER_ATTENTION,
                )
            )
    return findings
