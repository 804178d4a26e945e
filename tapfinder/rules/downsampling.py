"""Resolution changes: the points just before and just after the spatial resolution drops (or
rises).

A drop is a node whose spatial extent is smaller than one of its inputs' in the same layout: a
strided conv, a pooling, a patch embedding or patch merging (whose reshapes have no layout, so the
input is found up the chain of reshapes). Global pooling to 1×1 is the classifier's, not a stage's,
and is left out, and so is a drop inside a branch that the signal leaves at its former resolution
(VOLO's outlook attention pools its weights, SegFormer's, PVT's and MobileNetV5's attention reduce
keys and values; GhostNetV2 pools the input of a sigmoid gate it upsamples back; the block's output
keeps the map's size). Rises (decoder upsampling) are reported too, as weaker evidence.
"""

from __future__ import annotations

import math

import networkx as nx

from ..context import Context
from ..graph import first_inputs, spatial_size
from .findings import Finding, Kind, register_analyzer

_RESAMPLING_OPS = {"conv", "pool", "reshape", "upsample", "other"}


def _fmt(spatial: tuple) -> str:
    return "×".join(map(str, spatial))


def _enclosing_block(G: nx.DiGraph, node: str) -> str | None:
    """The innermost module around ``node`` that is one block: two or more weight layers, not itself
    a sequence of blocks, and either holding submodules of its own or small (under 8 weight
    layers)."""
    children, weights = G.graph["children"], G.graph.get("module_weights", {})
    path = G.nodes[node]["tf"].module
    while path:
        kids = children.get(path, ())
        blocks = [c for c in kids if c in children and weights.get(c, 0) >= 2]
        if (
            weights.get(path, 0) >= 2
            and len(blocks) < 2
            and (any(c in children for c in kids) or weights.get(path, 0) < 8)
        ):
            return path
        path = path.rsplit(".", 1)[0] if "." in path else ""
    return None


def _entry(G: nx.DiGraph, ctx: Context, before: str, at: str) -> str:
    """The whole-signal point where the signal enters the downsampling step at ``at``.

    Up the dominator chain from ``before`` to a whole-signal node outside the block that
    downsamples: in a ResNet or MBConv block whose inner conv is strided the point is the block's
    input, the previous stage's output. Then up through reshapes and permutes of that same tensor
    (Twins and PVT turn the last block's tokens into a map before the next patch embedding), up to
    the first module output: the point is the last block's output.
    """
    node, block = before, _enclosing_block(G, at)
    inside = (
        (
            lambda n: (
                G.nodes[n]["tf"].module == block or G.nodes[n]["tf"].module.startswith(block + ".")
            )
        )
        if block
        else (lambda n: False)
    )
    while (node not in ctx.whole and node not in ctx.skips or inside(node)) and ctx.idom.get(
        node
    ) is not None:
        node = ctx.idom[node]
    while (
        not G.nodes[node]["tf"].outputs_of
        and G.nodes[node]["tf"].op in ("reshape", "permute", "identity")
        and _same_tensor(G, ctx, node)
    ):
        node = ctx.idom[node]
    return node


def _same_tensor(G: nx.DiGraph, ctx: Context, node: str) -> bool:
    """Whether ``node`` only rearranges its one whole-signal input: the same number of values."""
    src = ctx.idom.get(node)
    if (
        src is None
        or not ctx.sees_whole(src)
        or [p for p in G.predecessors(node) if p in ctx.idom] != [src]
    ):
        return False
    shape, src_shape = G.nodes[node]["tf"].shape, G.nodes[src]["tf"].shape
    return bool(shape) and bool(src_shape) and math.prod(shape) == math.prod(src_shape)


_FOLD_STEPS = 12


def _folded_from(G: nx.DiGraph, node: str) -> str | None:
    """For a node read through reshapes that lose the layout (Swin's patch merging: [B, H, W, C]
    viewed as [B, H/2, 2, W/2, 2, C], permuted, flattened to [B, H/2, W/2, 4C], normed, projected),
    the nearest ancestor up the first-input chain with a layout of the same spatial rank; ``None``
    when the chain holds no reshape or permute or is longer than an attention block's (Hiera pools
    its queries inside the attention: 12 ops from the output projection back to the qkv
    projection)."""
    spatial, folded = G.nodes[node]["tf"].spatial, False
    rank = len(spatial)
    for node in first_inputs(G, node, _FOLD_STEPS):
        info = G.nodes[node]["tf"]
        if info.layout not in (None, "flat") and len(info.spatial or ()) == rank:
            # a merge folds each axis by a whole factor (2×2 patches); other shapes of the same rank
            # are another arrangement of the tokens (Hiera's mask units: 3136×4 is not 56×56 × 4)
            whole = all(b > 0 and a % b == 0 for a, b in zip(info.spatial, spatial))
            return node if folded and whole else None
        folded = folded or info.op in (
            "reshape",
            "permute",
        )  # layout-less, or folded to another rank
    return None


def _gate(info: dict) -> bool:
    """Whether a node turns features into weights in [0, 1]: a sigmoid or a softmax."""
    target = str(info.target).lower()
    return info.op == "softmax" or (
        info.op == "act" and "sigmoid" in target and "logsigmoid" not in target
    )


def _restored(G: nx.DiGraph, ctx: Context, node: str, before: tuple) -> bool:
    """Whether the first point after ``node`` that sees the whole signal is again ``before`` in size
    with no upsampling of features on the way: the drop at ``node`` sat in a side branch (attention
    weights, reduced keys and values). Sizes are compared as counts of positions, so a block that
    leaves as a token sequence of the map's length (PVT, Twins) is back at its size too. A decoder
    that upsamples back (a UNet) keeps its encoder's drops; weights past a sigmoid or softmax that
    are upsampled to gate the map (GhostNetV2's DFC attention, an attention UNet's gate) do not."""
    reached, later = {node}, None
    for m in ctx.order[ctx.rank[node] + 1 :]:
        if any(p in reached for p in G.predecessors(m)):
            if G.nodes[m]["tf"].op == "upsample":
                return False
            if not _gate(G.nodes[m]["tf"]):
                reached.add(m)
        if ctx.sees_whole(m):
            later = m
            break
    spatial = G.nodes[later]["tf"].spatial if later is not None else None
    return bool(spatial) and math.prod(spatial) >= math.prod(before)  # a map or its tokens (PVT)


@register_analyzer("downsampling")
def analyze(G: nx.DiGraph, ctx: Context) -> list[Finding]:
    drops: dict = {}  # node before a drop -> [(change, node after)]
    findings = []
    for n in ctx.order:
        info = G.nodes[n]["tf"]
        size = spatial_size(info)
        if size is None:
            continue
        sources = list(G.predecessors(n))
        if sources and all(spatial_size(G.nodes[p]["tf"]) is None for p in sources):
            sources = [a for a in [_folded_from(G, n)] if a is not None]  # any op may end a fold
        elif info.op not in _RESAMPLING_OPS:
            continue
        for p in sources:
            pinfo = G.nodes[p]["tf"]
            psize = spatial_size(pinfo)
            if psize is None or len(pinfo.spatial) != len(info.spatial):
                continue
            change = f"{_fmt(pinfo.spatial)} → {_fmt(info.spatial)}"
            if 1 < size < psize:
                if n not in ctx.whole and _restored(G, ctx, n, pinfo.spatial):
                    continue
                drops.setdefault(p, []).append((change, n))
                findings.append(
                    Finding(
                        n,
                        "downsampling",
                        f"after downsampling {change} at {n}",
                        1.0,
                        Kind.AFTER_DROP,
                    )
                )
            elif size > psize and info.op == "upsample":
                findings.append(
                    Finding(
                        p,
                        "downsampling",
                        f"before upsampling {change} at {n}",
                        1.0,
                        Kind.BEFORE_RISE,
                    )
                )
    entries: dict = {}
    for p, seen in drops.items():
        entries.setdefault(p, []).extend(seen)
        for entry in {_entry(G, ctx, p, n) for _, n in seen} - {p}:
            entries.setdefault(entry, []).extend(seen)
    for p, seen in entries.items():
        at = ", ".join(dict.fromkeys(n for _, n in seen))
        findings.append(
            Finding(
                p,
                "downsampling",
                f"before downsampling {seen[0][0]} (at {at})",
                2.0,
                Kind.BEFORE_DROP,
            )
        )
    return findings
