"""Normalization and activation changes: where the kind of nonlinearity or normalization switches.

Walking the graph in order, the first node whose activation (or normalization) differs from the one
used so far marks a transition, e.g. ReLU → Hardswish in MobileNetV3 or BatchNorm → LayerNorm in a
hybrid CNN-transformer; the point is the signal entering that new regime.
"""

from __future__ import annotations

import networkx as nx

from ..context import Context
from .findings import Finding, Kind, register_analyzer

_CANONICAL = {
    "relu_": "relu",
    "hardswish_": "hardswish",
    "silu_": "silu",
    "gelu_": "gelu",
    "layernorm2d": "layernorm",
    "layer_norm": "layernorm",
    "batch_norm": "batchnorm",
    "group_norm": "groupnorm",
    "rms_norm": "rmsnorm",
    "swish": "silu",
}


def _family(target: str, op: str) -> str:
    name = target.lower().rstrip("_")
    name = _CANONICAL.get(name, name)
    if op == "norm":
        for prefix in ("batchnorm", "layernorm", "groupnorm", "instancenorm", "rmsnorm"):
            if name.startswith(prefix):
                return prefix
    return name


@register_analyzer("norm_activation")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    findings = []
    current: dict[str, str] = {}
    for n in ctx.order:
        info = G.nodes[n]["tf"]
        if info.op not in ("act", "norm"):
            continue
        family = _family(info.target, info.op)
        before = current.get(info.op)
        current[info.op] = family
        if before is None or before == family:
            continue
        entry = ctx.idom.get(n)
        if entry is not None:
            what = "activation" if info.op == "act" else "normalization"
            findings.append(
                Finding(
                    entry,
                    "norm_activation",
                    f"{what} changes {before} → {family} at {n}",
                    0.5,
                    Kind.REGIME_CHANGE,
                )
            )
    return findings
