"""Hand-built model graphs for rule tests: no tracing, just nodes with ops and shapes."""

from __future__ import annotations

import networkx as nx

from tapfinder.frontends.layout import annotate_layout
from tapfinder.graph import add_op, new_graph
from tapfinder.rules import build_context


def build(
    nodes: list[tuple],
    outputs_of: dict | None = None,
    modules: dict | None = None,
    children: dict | None = None,
    weights: dict | None = None,
) -> nx.DiGraph:
    """``nodes``: (name, op, shape, inputs[, target]) in program order; inputs are names.

    Convs, linears and attention ops are weighted. ``outputs_of`` maps node → module paths.
    """
    G = new_graph("test")
    for spec in nodes:
        name, op, shape, inputs = spec[:4]
        target = spec[4] if len(spec) > 4 else op
        add_op(
            G,
            name,
            op=op,
            target=target,
            shape=tuple(shape) if shape else None,
            dtype="float32",
            weighted=op in ("conv", "linear", "attention"),
            outputs_of=tuple((outputs_of or {}).get(name, ())),
            module=((outputs_of or {}).get(name) or [""])[0],
        )
        for i in inputs:
            G.add_edge(i, name)
        if op == "input":
            G.graph["inputs"].append(name)
    G.graph["outputs"] = [nodes[-1][0]]
    G.graph["modules"] = modules or {}
    G.graph["children"] = children or {}
    G.graph["module_weights"] = weights or {}
    annotate_layout(G)
    return G


def context(G):
    return build_context(G)


def residual_net():
    """x → c1 → [stage: two residual blocks] → strided conv → pool → fc."""
    S = (2, 8, 16, 16)
    return build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("c1", "conv", S, ["x"]),
            ("b1.conv", "conv", S, ["c1"]),
            ("b1.add", "add", S, ["c1", "b1.conv"]),
            ("b2.conv", "conv", S, ["b1.add"]),
            ("b2.add", "add", S, ["b1.add", "b2.conv"]),
            ("down", "conv", (2, 16, 8, 8), ["b2.add"]),
            ("pool", "pool", (2, 16, 1, 1), ["down"]),
            ("flat", "reshape", (2, 16), ["pool"]),
            ("fc", "linear", (2, 10), ["flat"]),
        ]
    )


def unet_net(head=()):
    """Two levels down, two up, long skips at both levels; ``head`` appends nodes after ``dec1``."""
    H, M, L = (2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4)
    return build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("enc1", "conv", H, ["x"]),
            ("pool1", "pool", M, ["enc1"]),
            ("enc2", "conv", M, ["pool1"]),
            ("pool2", "pool", L, ["enc2"]),
            ("mid", "conv", L, ["pool2"]),
            ("up2", "upsample", M, ["mid"], "ConvTranspose2d"),
            ("cat2", "cat", (2, 32, 8, 8), ["up2", "enc2"]),
            ("dec2", "conv", M, ["cat2"]),
            ("up1", "upsample", H, ["dec2"], "ConvTranspose2d"),
            ("cat1", "cat", (2, 16, 16, 16), ["up1", "enc1"]),
            ("dec1", "conv", H, ["cat1"]),
            *head,
        ]
    )
