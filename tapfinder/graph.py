"""The one graph type every frontend produces and every rule reads.

A model graph is a :class:`networkx.DiGraph` whose nodes are tensor-valued operations, keyed by a
human name (a module path such as ``layer2`` or ``blocks.5`` where the node is a module's output, a
scoped op name such as ``layer1.0.add`` otherwise). Edges carry data flow between tensors only:
shape arithmetic (``x.size(0)``) and parameters are left out, so a path in the graph is a path of
the signal.

Each node holds one annotation dict under the key ``"tf"`` (cf. ``node.meta["tensor_meta"]`` in
torch.fx) with these keys:

``op``        op kind from :data:`tapfinder.ops.OP_KINDS`
``target``    what ran: module class name, function or method name, ONNX op type
``module``    path of the module whose forward created the node (``""`` for the root)
``outputs_of`` module paths (outermost first) whose forward returned this node
``aliases``   other names the node answers to (inner module paths, the frontend's own node name)
``shape``     output shape as a tuple of ints (``None`` when not a single tensor)
``dtype``     output dtype as a string
``layout``    ``"channels_first"`` ([B, C, *spatial]), ``"channels_last"`` ([B, *spatial, C]) or ``"flat"``
``spatial``   spatial extent as a tuple (``()`` for flat tensors, ``None`` when unknown)
``channels``  channel / feature count (``None`` when unknown)
``weighted``  True when the op holds a weight matrix or kernel (a conv, linear, embedding, attention)
``order``     position in a topological order of the frontend's program
``source``    the frontend's own name for the op (the fx node name; ``""`` where it has none)
``token``     the index the op picks along axis 1 (``x[:, 0]``: a class token), else ``None``

Graph-level attributes: ``G.graph["inputs"]``/``["outputs"]`` (node keys), ``["modules"]`` (module
path → class name for every submodule), ``["module_weights"]`` (module path → number of weight
matrices and kernels under it), ``["children"]`` (container path → child paths),
``["method"]`` (the frontend) and ``["shape_method"]`` (meta, fake or real).
"""
from __future__ import annotations

import math
from typing import Any

import networkx as nx

__all__ = ["new_graph", "add_op", "numel_per_sample", "describe", "spatial_size", "first_inputs"]


def new_graph(method: str) -> nx.DiGraph:
    """Return an empty model graph that records which frontend built it."""
    G = nx.DiGraph()
    G.graph.update(method=method, shape_method=None, inputs=[], outputs=[], modules={}, module_weights={},
                   children={})
    return G


def add_op(G: nx.DiGraph, key: str, **tf: Any) -> None:
    """Add one node with its ``"tf"`` annotation, filling defaults for the keys not given."""
    info = dict(op="other", target="", module="", outputs_of=(), aliases=(), shape=None,
                dtype=None, layout="flat", spatial=None, channels=None, weighted=False,
                order=G.number_of_nodes(), source="", token=None)
    info.update(tf)
    G.add_node(key, tf=info)


def numel_per_sample(info: dict) -> int | None:
    """Number of elements per batch item of a node's output, or ``None`` when not a tensor.

    >>> numel_per_sample({"shape": (2, 64, 8, 8)})
    4096
    """
    shape = info.get("shape")
    if not shape:
        return None
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def spatial_size(info: dict) -> int | None:
    """Product of a node's spatial extent, or ``None`` when it has none or it is unknown.

    >>> spatial_size({"spatial": (14, 14)}), spatial_size({"spatial": ()})
    (196, None)
    """
    spatial = info.get("spatial")
    return math.prod(spatial) if spatial else None


def describe(info: dict) -> str:
    """A node's features as ``channels×spatial`` (``256×56×56``), for reasons and tables.

    >>> describe({"channels": 256, "spatial": (56, 56), "shape": (2, 256, 56, 56)})
    '256×56×56'
    """
    if info.get("channels") is not None and info.get("spatial") is not None:
        return "×".join(str(d) for d in (info["channels"], *info["spatial"]))
    shape = info.get("shape")
    return "×".join(str(d) for d in shape[1:]) if shape else "?"


def first_inputs(G: nx.DiGraph, node, steps: int):
    """The ancestors of ``node`` up the chain of first inputs (in program order), at most ``steps``."""
    for _ in range(steps):
        parents = sorted(G.predecessors(node), key=lambda p: G.nodes[p]["tf"]["order"])
        if not parents:
            return
        node = parents[0]
        yield node
