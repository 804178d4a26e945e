"""Layouts: how to read each node's tensor (channels first, channels last, flat), from its op and
shapes.

:func:`annotate_layout` walks the graph in program order and gives every node its layout, and from
it the spatial extent and channel count the rules compare.
"""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from ..graph import NodeInfo, first_inputs, info

__all__ = ["annotate_layout"]

_CHANNELS_FIRST_OPS = {"conv", "pool", "upsample"}
_CHANNELS_FIRST_NORMS = ("batch", "group", "instance", "lrn", "local")


def _reads_channels_first(record: NodeInfo) -> bool:
    return record.op in _CHANNELS_FIRST_OPS or (
        record.op == "norm" and str(record.target).lower().startswith(_CHANNELS_FIRST_NORMS)
    )


def _input_layout(G: nx.DiGraph, key) -> str:
    """A float input is channels-first (images, signals) unless the first layer with weights or a
    layout of its own that reads it takes its last axis as the channels: a linear, attention or
    LayerNorm over a last axis of the input's width (a [B, T, C] sequence)."""
    width = info(G, key).shape[-1]
    for n in sorted(nx.descendants(G, key), key=lambda n: info(G, n).order):
        record = info(G, n)
        if _reads_channels_first(record):
            return "channels_first"
        if record.op in ("linear", "attention", "norm"):
            widths = [info(G, p).shape[-1] for p in G.predecessors(n) if info(G, p).shape]
            return "channels_last" if width in widths else "channels_first"
    return "channels_first"


def _followed(shape: tuple, parent: NodeInfo) -> str | None:
    """A permute's or reshape's layout: where the parent's channel count went."""
    channels = parent.shape[1] if parent.layout == "channels_first" else parent.shape[-1]
    first, last = shape[1] == channels, shape[-1] == channels
    if parent.layout == "channels_first":
        return "channels_first" if first else ("channels_last" if last else None)
    return "channels_last" if last else ("channels_first" if first else None)


def _layout_of(record: NodeInfo, parent: NodeInfo | None, batch: int | None = None) -> str | None:
    shape, op = record.shape, record.op
    if shape is None:
        return None
    if len(shape) <= 2:
        return "flat"
    if batch is not None and shape[0] != batch and op != "input":
        return (
            None  # the batch axis moved or merged (MultiheadAttention's (T, B, C), Swin's windows)
        )
    if op == "input":
        return "channels_first" if record.dtype.startswith(("float", "bfloat", "half")) else "flat"
    if _reads_channels_first(record):
        return "channels_first"
    if op == "attention" and (parent is None or parent.layout is None):
        return (
            None  # scaled_dot_product_attention on heads split off the channels: [B, heads, T, d]
        )
    if op in ("linear", "embedding", "attention", "recurrent"):
        return "channels_last"
    if parent is None or parent.layout in (None, "flat") or parent.shape is None:
        return None
    if len(shape) == len(parent.shape) and op not in ("permute", "reshape"):
        return parent.layout
    return _followed(shape, parent)


_RESTORE_STEPS = 8


def _restored_layout(G: nx.DiGraph, key) -> str | None:
    """The layout of the nearest ancestor with one, when ``key`` (a reshape or permute) gives that
    ancestor's shape back through layout-less reshapes and permutes: ShuffleNet's channel shuffle
    views [B, C, H, W] as [B, g, C/g, H, W], transposes, and views it back."""
    shape = info(G, key).shape
    for node in first_inputs(G, key, _RESTORE_STEPS):
        record = info(G, node)
        if record.layout not in (None, "flat"):
            return record.layout if record.shape == shape else None
        if record.op not in ("reshape", "permute"):
            return None
    return None


def _read(shape: tuple | None, layout: str | None) -> tuple:
    """(channels, spatial) of a tensor of ``shape`` read in ``layout``."""
    if layout == "channels_first":
        return shape[1], tuple(shape[2:])
    if layout == "channels_last":
        return shape[-1], tuple(shape[1:-1])
    if layout == "flat":
        return (shape[-1] if len(shape) > 1 else None), ()
    return None, None


def annotate_layout(G: nx.DiGraph) -> None:
    """Give every node of ``G`` a record with its ``layout``, ``spatial`` and ``channels`` filled.

    Axis 0 is the batch: a node whose first axis is not the inputs' batch size has its batch moved
    or merged into another axis, and gets no layout (its other axes are no resolution of the
    signal).
    """
    batch = next(
        (shape[0] for shape in (info(G, i).shape for i in G.graph.get("inputs") or []) if shape),
        None,
    )
    for key in sorted(G.nodes, key=lambda n: info(G, n).order):
        record = info(G, key)
        parents = sorted((info(G, p) for p in G.predecessors(key)), key=lambda p: p.order)
        parent = next(
            (p for p in parents if p.layout not in (None, "flat")), parents[0] if parents else None
        )
        layout = _layout_of(record, parent, batch)
        if layout == "channels_first" and record.op == "input" and len(record.shape) == 3:
            layout = _input_layout(G, key)
        reshaped = record.op in ("reshape", "permute") and record.shape and record.shape[0] == batch
        if layout is None and reshaped:
            layout = _restored_layout(G, key)
        channels, spatial = _read(record.shape, layout)
        G.nodes[key]["tf"] = replace(record, layout=layout, channels=channels, spatial=spatial)
