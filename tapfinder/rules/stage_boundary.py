"""Stage and block boundaries, read off the module hierarchy the frontend recorded.

A *block* is a module holding two or more weight layers (a conv-norm-act wrapper is a layer, not a
block); a *block sequence* is a container with at least two blocks of one class (``layer1`` of
Bottlenecks, ``blocks`` of ViT blocks, ``features`` of DenseNet stages). The
output of each such child ends a block; a module that is itself a block sequence, or holds one
whose output is its own, ends a stage (ResNet stages, transformer encoders, timm ``stages.N``).
"""

from __future__ import annotations

from collections import Counter

import networkx as nx

from ..context import Context
from ..ops import op_kind
from .findings import Finding, Kind, register_analyzer


def _is_block(G: nx.DiGraph, path: str) -> bool:
    """Whether the module at ``path`` is one block: two or more weight layers, in submodules of its
    own or in a recurrent layer (an LSTM's input and hidden weights, its state run through time)."""
    holds = path in G.graph["children"] or op_kind(G.graph["modules"].get(path, "")) == "recurrent"
    return holds and G.graph.get("module_weights", {}).get(path, 0) >= 2


def _block_sequence(G: nx.DiGraph, path: str) -> tuple[str, int] | None:
    """(block class, block count) when ``path`` is a block sequence, else None."""
    inner = [c for c in G.graph["children"].get(path, ()) if _is_block(G, c)]
    counts = Counter(G.graph["modules"].get(c, "") for c in inner)
    if len(inner) < 2 or not counts:
        return None
    cls, count = counts.most_common(1)[0]
    return (cls, count) if count >= 2 else None


def ends_a_stacked_block(G: nx.DiGraph, record) -> bool:
    """Whether a node is the output of a block in a block sequence: one layer of a stack (a
    decoder layer that also reads the encoder's memory bypasses nothing of its own stream)."""
    for path in record.outputs_of:
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        if _block_sequence(G, parent) and _is_block(G, path):
            return True
    return False


@register_analyzer("stage_boundary")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    findings = []
    for n in ctx.order:
        paths = G.nodes[n]["tf"].outputs_of
        stage = next(((p, s) for p in paths if (s := _block_sequence(G, p))), None)
        if stage:
            path, (cls, count) = stage
            name = paths[0] if paths[0] != path else path
            findings.append(
                Finding(
                    n,
                    "stage_boundary",
                    f"end of stage {name} ({count} × {cls})",
                    2.5,
                    Kind.STAGE_END,
                )
            )
            continue
        for p in paths:
            parent = p.rsplit(".", 1)[0] if "." in p else ""
            seq = _block_sequence(G, parent)
            if seq and _is_block(G, p):
                index = G.graph["children"][parent].index(p)
                total = len(G.graph["children"][parent])
                findings.append(
                    Finding(
                        n,
                        "stage_boundary",
                        f"end of block {p} ({G.graph['modules'][p]}, {index + 1}/{total} of "
                        f"{parent or 'the model'})",
                        1.0,
                        Kind.BLOCK_END,
                    )
                )
                break
    return findings
