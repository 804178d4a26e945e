"""One way to assemble the model graph, shared by every frontend.

A frontend walks its program in order and calls :meth:`GraphBuilder.add` once per tensor-valued
operation with what it knows: the op's name, the module whose forward ran it, the modules whose
output it is, its value (for shape and dtype), its inputs, and whether it holds a weight. The
builder names nodes the same way whichever frontend ran (module paths for module outputs, scoped op
names like ``layer1.0.add`` otherwise), so one model gets the same point names from fx, torch.export
or a recorded forward pass.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Hashable, Iterable

import networkx as nx
import torch
from torch import nn

from ..graph import add_op, info, new_graph
from ..ops import op_kind
from .layout import annotate_layout

__all__ = ["GraphBuilder", "first_tensor", "base_op_name", "module_ancestors", "WEIGHT_OPS"]

# op kinds that count as a weight layer when they consume a parameter of 2+ dims (a scale of shape
# (C, 1, 1) multiplied in is not a layer)
WEIGHT_OPS = frozenset(
    {"conv", "linear", "matmul", "embedding", "attention", "recurrent", "upsample", "other"}
)

_COUNTER_SUFFIX = re.compile(r"_\d+$")
_IN_PLACE = {
    "iadd": "add",
    "isub": "sub",
    "imul": "mul",
    "itruediv": "truediv",
    "radd": "add",
    "rmul": "mul",
}


def first_tensor(value: Any) -> torch.Tensor | None:
    """The value itself if a tensor, else the first tensor of a (nested) tuple/list/dict, else
    None."""
    if isinstance(value, torch.Tensor):
        return value
    items = (
        value.values()
        if isinstance(value, dict)
        else value
        if isinstance(value, (tuple, list))
        else ()
    )
    for item in items:
        found = first_tensor(item)
        if found is not None:
            return found
    return None


def base_op_name(name: str) -> str:
    """A frontend's op name without counters, namespaces and dunders: ``__iadd__`` → ``iadd``.

    >>> base_op_name("relu_12"), base_op_name("__getitem__"), base_op_name("conv2d.default")
    ('relu', 'getitem', 'conv2d')
    """
    name = (
        name.split(".")[0]
        if name.endswith((".default", ".Tensor", ".Scalar", ".int", ".dim"))
        else name
    )
    name = _COUNTER_SUFFIX.sub("", name.strip("_")) or name
    return _IN_PLACE.get(name, name)


def picked_token(op_name: str, args: tuple) -> int | None:
    """The index an op picks along axis 1 (``x[:, 0]``, ``x.select(1, 0)``), or None for other ops:
    a transformer that turns its [B, T, C] tokens into one vector this way reads a class token.

    >>> picked_token("getitem", ("x", (slice(None), 0))), picked_token("select.int", ("x", 1, 0))
    (0, 0)
    >>> picked_token("getitem", ("x", (slice(None), slice(1, None))))
    >>> picked_token("mean", ("x", 1))
    """
    name = base_op_name(op_name)
    if name == "getitem" and len(args) >= 2 and isinstance(args[1], tuple) and len(args[1]) >= 2:
        axis0, axis1 = args[1][:2]
        if axis0 == slice(None) and isinstance(axis1, int) and not isinstance(axis1, bool):
            return axis1
    if name == "select" and len(args) >= 3 and args[1] == 1 and isinstance(args[2], int):
        return args[2]
    return None


def _weights_per_module(model: nn.Module) -> dict[str, int]:
    """Number of weight matrices or kernels (parameters of 2+ dims) under each module path."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            parts = name.split(".")[:-1]
            for i in range(1, len(parts) + 1):
                path = ".".join(parts[:i])
                counts[path] = counts.get(path, 0) + 1
    return counts


def module_ancestors(path: str) -> list[str]:
    """``"a.b.c"`` → ``["a", "a.b", "a.b.c"]``; the root ``""`` has none."""
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def best_names(paths: Iterable[str], scope: str, own: str | None = None) -> list[str]:
    """The modules that returned one value, best name first: those that made it (around the op, or
    the leaf module that ran it), outermost first, then those that only handed it on, latest first.

    An empty ``nn.Sequential`` shortcut returns its input, so the previous block's output is also
    the next block's shortcut's; named after the shortcut, the point would hide where it is.

    >>> best_names(["b.1.0", "b.1", "b.2.0.shortcut"], scope="b.1.0")
    ['b.1', 'b.1.0', 'b.2.0.shortcut']
    """

    def made(path: str) -> bool:
        module = path.split("[", 1)[0]  # "stage[1]": the second output of module "stage"
        return module == own or scope == module or scope.startswith(module + ".")

    latest = [p for p in reversed(list(paths)) if p]
    return [p for p in latest if made(p)] + [p for p in latest if not made(p)]


def single_exits(
    nodes: Iterable[Hashable],
    enclosing: Callable[[Hashable], set],
    users: Callable[[Hashable], Iterable],
) -> dict[Hashable, Hashable]:
    """The scopes (module paths, or module calls) that exactly one node leaves, and that node.

    Every frontend names a module's output this way: it is where the signal leaves the module's
    subtree. A node leaves each scope that encloses it but not its user; a user ``None`` (the
    graph's output) leaves every scope. A scope left by two nodes (a module with two outputs) has no
    single output and is left out.
    """
    exits: dict[Hashable, set] = {}
    for n in nodes:
        inside = enclosing(n)
        if not inside:
            continue
        for u in users(n):
            for scope in inside - (enclosing(u) if u is not None else set()):
                exits.setdefault(scope, set()).add(n)
    return {scope: next(iter(ns)) for scope, ns in exits.items() if len(ns) == 1}


class GraphBuilder:
    """Collects a frontend's operations into the model graph (see :mod:`tapfinder.graph`)."""

    def __init__(self, method: str, model: nn.Module | None = None):
        self.G = new_graph(method)
        if model is not None:
            self.G.graph["modules"] = {p: type(m).__name__ for p, m in model.named_modules() if p}
            self.G.graph["module_weights"] = _weights_per_module(model)
            self.G.graph["children"] = {
                p: [f"{p}.{c}" if p else c for c, _ in m.named_children()]
                for p, m in model.named_modules()
                if next(m.children(), None) is not None
            }
        self._keys: dict[Hashable, str] = {}
        self._used: dict[str, int] = {}

    def _unique(self, base: str) -> str:
        n = self._used.get(base, 0)
        self._used[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def key(self, ident: Hashable) -> str | None:
        return self._keys.get(ident)

    def add(
        self,
        ident: Hashable,
        *,
        op_name: str,
        scope: str,
        value: Any,
        inputs: Iterable[Hashable],
        outputs_of: Iterable[str] = (),
        weighted: bool = False,
        is_input: bool = False,
        own_path: str | None = None,
        source: str = "",
        token: int | None = None,
    ) -> str | None:
        """Add one operation; returns its node key, or None when its value holds no tensor.

        Args:
            ident: the frontend's handle for the op (an fx node, a tensor id); ``inputs`` use the
            same.
            op_name: the callable's name (module class, function, method, ONNX op type).
            scope: path of the module whose forward ran the op.
            outputs_of: module paths whose forward returned this value, innermost first.
            own_path: for a leaf module's call, the module's path (its base name).
            source: the frontend's own name for the op (an fx node's name), kept to find it again.
            token: the index the op picks along axis 1 (see :func:`picked_token`).
        """
        tensor = first_tensor(value)
        if tensor is None:
            return None
        outer = [p for p in best_names(outputs_of, scope, own_path) if p not in self._used]
        if is_input:
            base, kind, target = op_name, "input", "input"
        else:
            target, kind = op_name, op_kind(op_name)
            base = own_path or ((f"{scope}." if scope else "") + base_op_name(op_name).lower())
        own = self._unique(base)
        key = outer[0] if outer else own
        if outer:
            self._used[key] = 1
        aliases = tuple(a for a in dict.fromkeys([*outer[1:], own]) if a != key)
        add_op(
            self.G,
            key,
            op=kind,
            target=target,
            module=scope,
            outputs_of=tuple(outer),
            aliases=aliases,
            # a recurrent module returns (sequence, state): the sequence is its output
            shape=tuple(tensor.shape)
            if isinstance(value, torch.Tensor) or kind == "recurrent"
            else None,
            dtype=str(tensor.dtype).replace("torch.", ""),
            weighted=weighted,
            source=source,
            token=token,
        )
        self._keys[ident] = key
        if is_input:
            self.G.graph["inputs"].append(key)
        for src in inputs:
            src_key = self._keys.get(src)
            if src_key is not None and src_key != key:
                self.G.add_edge(src_key, key)
        return key

    def alias(self, ident: Hashable, existing: Hashable) -> None:
        """Let ``ident`` refer to the node already added as ``existing`` (a tensor handed on)."""
        if existing in self._keys:
            self._keys[ident] = self._keys[existing]

    def name_module_outputs(self, returns: dict[str, list[str]]) -> None:
        """Name nodes after the modules that returned them, learnt after the nodes were added.

        Args:
            returns: node key → module paths whose call returned it, innermost first.
        """
        mapping = {}
        for key, paths in returns.items():
            record = info(self.G, key)
            outer = [p for p in best_names(paths, record.module) if p not in self._used]
            if not outer:
                continue
            self._used[outer[0]] = 1
            aliases = tuple(
                a for a in dict.fromkeys([*outer[1:], key, *record.aliases]) if a != outer[0]
            )
            self.G.nodes[key]["tf"] = replace(record, outputs_of=tuple(outer), aliases=aliases)
            mapping[key] = outer[0]
        nx.relabel_nodes(self.G, mapping, copy=False)
        self._keys = {i: mapping.get(k, k) for i, k in self._keys.items()}
        self.G.graph["inputs"] = [mapping.get(k, k) for k in self.G.graph["inputs"]]

    def finish(self, outputs: Iterable[Hashable]) -> nx.DiGraph:
        """Mark the returned values (main output first), name uncalled containers, annotate
        layout."""
        self.G.graph["outputs"] = [k for k in (self._keys.get(o) for o in outputs) if k is not None]
        self._alias_uncalled_containers()
        annotate_layout(self.G)
        return self.G

    def _alias_uncalled_containers(self) -> None:
        """Name the output of modules never called themselves (a ModuleList iterated in a loop).

        A module's output is where the signal leaves its subtree; when exactly one node does, that
        node answers to the module's path too (as an alias), so ``blocks.0`` of a ModuleList is
        found.
        """
        G = self.G
        named = {p for n in G for p in (*info(G, n).outputs_of, *info(G, n).aliases)}
        exits = single_exits(
            G,
            lambda n: set(module_ancestors(info(G, n).module)),
            lambda n: list(G.successors(n)) or [None],
        )
        for path, node in exits.items():
            if path not in named and path in G.graph["modules"]:
                G.nodes[node]["tf"] = replace(info(G, node), aliases=(*info(G, node).aliases, path))
