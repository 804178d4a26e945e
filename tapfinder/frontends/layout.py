"""Layouts: how to read each node's tensor (channels first, channels last, flat), from its op and shapes.

:func:`annotate_layout` walks the graph in program order and gives every node its layout, and from
it the spatial extent and channel count the rules compare.
"""
from __future__ import annotations

import networkx as nx

from ..graph import first_inputs

__all__ = ["annotate_layout"]

_CHANNELS_FIRST_OPS = {"conv", "pool", "upsample"}
_CHANNELS_FIRST_NORMS = ("batch", "group", "instance", "lrn", "local")


def _reads_channels_first(info: dict) -> bool:
    return info["op"] in _CHANNELS_FIRST_OPS or (
        info["op"] == "norm" and str(info["target"]).lower().startswith(_CHANNELS_FIRST_NORMS))


def _input_layout(G: nx.DiGraph, key) -> str:
    """A float input is channels-first (images, signals) unless the first layer with weights or a
    layout of its own that reads it takes its last axis as the channels: a linear, attention or
    LayerNorm over a last axis of the input's width (a [B, T, C] sequence)."""
    width = G.nodes[key]["tf"]["shape"][-1]
    for n in sorted(nx.descendants(G, key), key=lambda n: G.nodes[n]["tf"]["order"]):
        info = G.nodes[n]["tf"]
        if _reads_channels_first(info):
            return "channels_first"
        if info["op"] in ("linear", "attention", "norm"):
            widths = [G.nodes[p]["tf"]["shape"][-1] for p in G.predecessors(n) if G.nodes[p]["tf"]["shape"]]
            return "channels_last" if width in widths else "channels_first"
    return "channels_first"


def _layout_of(info: dict, parent: dict | None, batch: int | None = None) -> str | None:
    shape, op = info["shape"], info["op"]
    if shape is None:
        return None
    rank = len(shape)
    if rank <= 2:
        return "flat"
    if batch is not None and shape[0] != batch and op != "input":
        return None   # the batch axis moved or merged (MultiheadAttention's (T, B, C), Swin's windows)
    if op == "input":
        return "channels_first" if info["dtype"].startswith(("float", "bfloat", "half")) else "flat"
    if _reads_channels_first(info):
        return "channels_first"
    if op == "attention" and (parent is None or parent.get("layout") is None):
        return None   # scaled_dot_product_attention on heads split off the channels: [B, heads, T, d]
    if op in ("linear", "embedding", "attention"):
        return "channels_last"
    if parent is None or parent.get("layout") in (None, "flat") or parent["shape"] is None:
        return None
    pshape, playout = parent["shape"], parent["layout"]
    channels = pshape[1] if playout == "channels_first" else pshape[-1]
    if rank == len(pshape) and op not in ("permute", "reshape"):
        return playout
    # permutes and reshapes: follow the parent's channel count to its new axis
    first, last = shape[1] == channels, shape[-1] == channels
    if playout == "channels_first":
        return "channels_first" if first else ("channels_last" if last else None)
    return "channels_last" if last else ("channels_first" if first else None)


_RESTORE_STEPS = 8


def _restored_layout(G: nx.DiGraph, key) -> str | None:
    """The layout of the nearest ancestor with one, when ``key`` (a reshape or permute) gives that
    ancestor's shape back through layout-less reshapes and permutes: ShuffleNet's channel shuffle
    views [B, C, H, W] as [B, g, C/g, H, W], transposes, and views it back."""
    shape = G.nodes[key]["tf"]["shape"]
    for node in first_inputs(G, key, _RESTORE_STEPS):
        info = G.nodes[node]["tf"]
        if info.get("layout") not in (None, "flat"):
            return info["layout"] if info["shape"] == shape else None
        if info["op"] not in ("reshape", "permute"):
            return None
    return None


def annotate_layout(G: nx.DiGraph) -> None:
    """Fill ``layout``, ``spatial`` and ``channels`` of every node of ``G`` (in place, ``tf`` only).

    Axis 0 is the batch: a node whose first axis is not the inputs' batch size has its batch moved
    or merged into another axis, and gets no layout (its other axes are no resolution of the signal).
    """
    batch = next((shape[0] for shape in (G.nodes[i]["tf"].get("shape") for i in G.graph.get("inputs") or [])
                  if shape), None)
    for key in sorted(G.nodes, key=lambda n: G.nodes[n]["tf"]["order"]):
        info = G.nodes[key]["tf"]
        parents = [G.nodes[p]["tf"] for p in G.predecessors(key)]
        parent = next((p for p in sorted(parents, key=lambda p: p["order"])
                       if p.get("layout") not in (None, "flat")), parents[0] if parents else None)
        layout = _layout_of(info, parent, batch)
        if layout == "channels_first" and info["op"] == "input" and len(info["shape"]) == 3:
            layout = _input_layout(G, key)
        if layout is None and info["op"] in ("reshape", "permute") and info["shape"] and info["shape"][0] == batch:
            layout = _restored_layout(G, key)
        shape = info["shape"]
        info["layout"] = layout
        if layout == "channels_first":
            info["channels"], info["spatial"] = shape[1], tuple(shape[2:])
        elif layout == "channels_last":
            info["channels"], info["spatial"] = shape[-1], tuple(shape[1:-1])
        elif layout == "flat":
            info["channels"], info["spatial"] = (shape[-1] if len(shape) > 1 else None), ()
        else:
            info["channels"], info["spatial"] = None, None
