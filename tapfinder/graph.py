"""The one graph type every frontend produces and every rule reads.

A model graph is a :class:`networkx.DiGraph` whose nodes are tensor-valued operations, keyed by a
human name (a module path such as ``layer2`` where the node is a module's output, a scoped op name
such as ``layer1.0.add`` otherwise). Edges carry data flow between tensors only, so a path in the
graph is a path of the signal. Each node holds one frozen :class:`NodeInfo` under ``"tf"``
(cf. ``node.meta["tensor_meta"]`` in torch.fx); passes derive new records, never edit one.
Graph-level attributes are listed in :func:`new_graph`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import networkx as nx

from .ops import OP_KINDS

__all__ = [
    "NodeInfo",
    "LAYOUTS",
    "new_graph",
    "add_op",
    "info",
    "numel_per_sample",
    "describe",
    "spatial_size",
    "first_inputs",
]

LAYOUTS = (
    "channels_first",
    "channels_last",
    "flat",
    None,
)  # None: the batch axis moved, or unknown


@dataclass(frozen=True)
class NodeInfo:
    """What one graph node computes, where it sits and what it holds.

    >>> NodeInfo(op="conv", shape=(2, 8, 4, 4)).op
    'conv'
    >>> NodeInfo(op="convolution")
    Traceback (most recent call last):
    ValueError: op 'convolution' is no op kind (tapfinder.ops.OP_KINDS)
    """

    # what ran
    op: str = "other"  # the op kind, one of tapfinder.ops.OP_KINDS
    target: str = ""  # module class, function or method name, ONNX op type
    source: str = ""  # the frontend's own name for the op (an fx node's), "" where none
    order: int = 0  # position in a topological order of the frontend's program
    # where it sits in the module tree
    module: str = ""  # path of the module whose forward ran it ("" for the root)
    outputs_of: tuple = ()  # module paths (outermost first) whose forward returned it
    aliases: tuple = ()  # other names it answers to (inner modules, the frontend's name)
    # what it holds
    shape: tuple | None = None  # output shape, batch first (None: not a single tensor)
    dtype: str | None = None  # "float32", "int64", ...
    weighted: bool = False  # holds a weight matrix or kernel (conv, linear, embedding, ...)
    token: int | None = None  # the index it picks along axis 1 (x[:, 0]: a class token)
    # how its tensor reads (the layout pass fills these)
    layout: str | None = "flat"  # one of LAYOUTS
    spatial: tuple | None = None  # spatial extent (() for flat tensors, None when unknown)
    channels: int | None = None  # channel / feature count (None when unknown)

    def __post_init__(self):
        if self.op not in OP_KINDS:
            raise ValueError(f"op {self.op!r} is no op kind (tapfinder.ops.OP_KINDS)")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is none of {LAYOUTS}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NodeInfo":
        """The record of :meth:`to_dict` (lists from JSON back to tuples; unknown keys dropped)."""
        names = {f.name for f in fields(cls)}
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**kept)


def new_graph(method: str) -> nx.DiGraph:
    """An empty model graph. Its attributes: ``method`` (the frontend), ``shape_method`` (meta,
    fake,
    real or ONNX shape inference), ``inputs``/``outputs`` (node keys, main output first),
    ``modules`` (path → class name), ``module_weights`` (path → weight matrices and kernels under
    it), ``children`` (container path → child paths) and, once built, ``fallbacks``."""
    G = nx.DiGraph()
    G.graph.update(
        method=method,
        shape_method=None,
        inputs=[],
        outputs=[],
        modules={},
        module_weights={},
        children={},
    )
    return G


def add_op(G: nx.DiGraph, key: str, **fields_: object) -> NodeInfo:
    """Add one node with its record, in program order; returns the record."""
    record = NodeInfo(order=G.number_of_nodes(), **fields_)
    G.add_node(key, tf=record)
    return record


def info(G: nx.DiGraph, node) -> NodeInfo:
    """The record of ``node``."""
    return G.nodes[node]["tf"]


def numel_per_sample(record: NodeInfo) -> int | None:
    """Number of elements per batch item of a node's output, or ``None`` when not a tensor.

    >>> numel_per_sample(NodeInfo(shape=(2, 64, 8, 8)))
    4096
    """
    shape = record.shape
    if not shape:
        return None
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def spatial_size(record: NodeInfo) -> int | None:
    """Product of a node's spatial extent, or ``None`` when it has none or it is unknown.

    >>> spatial_size(NodeInfo(spatial=(14, 14))), spatial_size(NodeInfo(spatial=()))
    (196, None)
    """
    return math.prod(record.spatial) if record.spatial else None


def describe(record: NodeInfo) -> str:
    """A node's features as ``channels×spatial`` (``256×56×56``), for reasons and tables.

    >>> describe(NodeInfo(channels=256, spatial=(56, 56), shape=(2, 256, 56, 56)))
    '256×56×56'
    """
    if record.channels is not None and record.spatial is not None:
        return "×".join(str(d) for d in (record.channels, *record.spatial))
    return "×".join(str(d) for d in record.shape[1:]) if record.shape else "?"


def first_inputs(G: nx.DiGraph, node, steps: int):
    """The ancestors of ``node`` up the chain of first inputs (in program order), at most
    ``steps``."""
    for _ in range(steps):
        parents = sorted(G.predecessors(node), key=lambda p: info(G, p).order)
        if not parents:
            return
        node = parents[0]
        yield node
