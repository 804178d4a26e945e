"""The torch.fx frontend: trace a module into the model graph, every node named by module path.

The tracer is torch.fx's own, narrowed by one subclass (cf. torchvision's ``NodePathTracer``): it
treats extra module types as leaves, wraps extra functions, and records which module calls returned
which node, so a stage's output is called ``layer2`` and not ``relu_12``. When timm is in use its
registry of untraceable modules and functions is used too, which is what lets fx reach timm's own
coverage rather than plain ``symbolic_trace``'s.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, Iterable, Sequence

import networkx as nx
import torch
from torch import fx, nn

from ..errors import TraceError
from ..ops import op_kind
from ..progress import report
from .builder import WEIGHT_OPS, GraphBuilder, picked_token
from .shapes import propagate_shapes

__all__ = ["trace_fx", "build_fx_graph"]


# torch.nn modules fx would keep whole (it treats all of torch.nn as leaves) that are stacks of
# layers a user may want to tap, as DETR supervises every decoder layer
TRACED_THROUGH = (
    nn.Transformer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
)


class _PathTracer(fx.Tracer):
    """An fx tracer that knows extra leaf modules and remembers whose output each node is."""

    def __init__(self, leaf_modules: Sequence[type] = (), autowrap_functions: Sequence[Any] = ()):
        super().__init__(autowrap_functions=tuple(f for f in autowrap_functions if callable(f)))
        self._leaf_types = tuple(leaf_modules)
        self.outputs_of: dict[fx.Node, list[str]] = {}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self._leaf_types and isinstance(m, self._leaf_types):
            return True
        if isinstance(m, TRACED_THROUGH):  # torch.nn containers of layers: their layers are points
            return False
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        out = super().call_module(m, forward, args, kwargs)
        path = self.path_of_module(m)
        if not path:
            return out
        if isinstance(out, fx.Proxy):
            self.outputs_of.setdefault(out.node, []).append(path)
        elif isinstance(out, (tuple, list)):  # (x, extra) pairs and multi-branch lists
            proxies = [(i, o) for i, o in enumerate(out) if isinstance(o, fx.Proxy)]
            for rank, (i, o) in enumerate(proxies):
                self.outputs_of.setdefault(o.node, []).append(path if rank == 0 else f"{path}[{i}]")
        return out


def _timm_registry() -> tuple[list[type], list[Any]]:
    """timm's registered no-trace modules and functions, when timm is in use (already imported).

    A model built with timm layers imported timm already; importing it for other models would cost
    seconds and change nothing.
    """
    if "timm" not in sys.modules:
        return [], []
    from timm.layers import _fx

    return list(_fx.get_notrace_modules()), list(_fx.get_notrace_functions())


def _defaults_after(model: nn.Module, n_inputs: int | None) -> dict | None:
    """Optional forward arguments beyond the example inputs, fixed to their defaults.

    Traced as placeholders, ``mask=None`` would look like a tensor to ``if mask is not None``.
    """
    if n_inputs is None:
        return None
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    fixed = {p.name: p.default for p in positional[n_inputs:] if p.default is not p.empty}
    return fixed or None


def trace_fx(
    model: nn.Module,
    *,
    leaf_modules: Iterable[type] = (),
    autowrap_functions: Iterable[Any] = (),
    use_timm_registry: bool = True,
    n_inputs: int | None = None,
) -> tuple[fx.Graph, _PathTracer]:
    """Symbolically trace ``model`` in its current train/eval mode.

    With ``n_inputs``, optional forward arguments after the first ``n_inputs`` keep their defaults.

    Raises:
        TraceError: when fx cannot trace the model (data-dependent control flow and the like).
    """
    leaves, wrapped = list(leaf_modules), list(autowrap_functions)
    if use_timm_registry:
        timm_leaves, timm_fns = _timm_registry()
        leaves += timm_leaves
        wrapped += timm_fns
    tracer = _PathTracer(leaves, wrapped)
    try:
        graph = tracer.trace(model, concrete_args=_defaults_after(model, n_inputs))
    except Exception as e:  # fx raises many types (TraceError, TypeError, RuntimeError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TraceError(f"torch.fx could not trace {type(model).__name__}: {first}") from e
    return graph, tracer


def _target_name(node: fx.Node, root: nn.Module) -> str:
    if node.op == "call_module":
        return type(root.get_submodule(node.target)).__name__
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def parameter_derived(graph: fx.Graph) -> set[fx.Node]:
    """The nodes computed from parameters and buffers alone, never from an input: ``get_attr``
    and what only they feed (a standardized or normalized weight: timm's ``StdConv2d``, weight
    norm), in one pass over the graph's topological order."""
    derived: set[fx.Node] = set()
    for node in graph.nodes:
        inputs = node.all_input_nodes
        if node.op == "get_attr" or (
            node.op in ("call_function", "call_method") and inputs and set(inputs) <= derived
        ):
            derived.add(node)
    return derived


def _is_weighted(
    node: fx.Node, root: nn.Module, values: dict[fx.Node, Any], kind: str, derived: set
) -> bool:
    """Whether ``node`` is a weighted layer: a module with a weight matrix or kernel, or a weight
    op (conv, linear, matmul) one of whose operands is such a tensor computed from parameters."""
    if node.op == "call_module":
        return any(p.dim() >= 2 for p in root.get_submodule(node.target).parameters())
    if kind not in WEIGHT_OPS or node in derived:  # work on the weights themselves is no layer
        return False
    # a weight matrix or kernel computed from parameters counts for the ops that take one; an
    # attention mask or bias computed from a table does not make attention a layer
    computed = kind in _KERNEL_OPS
    weights = [a for a in node.all_input_nodes if a.op == "get_attr" or (computed and a in derived)]
    return any(isinstance(values.get(w), torch.Tensor) and values[w].dim() >= 2 for w in weights)


_KERNEL_OPS = ("conv", "linear", "matmul", "embedding")


def build_fx_graph(
    model: nn.Module,
    example_inputs: tuple,
    *,
    leaf_modules: Iterable[type] = (),
    autowrap_functions: Iterable[Any] = (),
    use_timm_registry: bool = True,
) -> nx.DiGraph:
    """Trace ``model`` with fx, propagate shapes on ``example_inputs`` and return the model graph.

    The model is traced in its current mode (train mode gives the graph that taps train on) and is
    left exactly as found: parameters and buffers are never written.
    """
    graph, tracer = trace_fx(
        model,
        leaf_modules=leaf_modules,
        autowrap_functions=autowrap_functions,
        use_timm_registry=use_timm_registry,
        n_inputs=len(example_inputs),
    )
    report("propagating shapes")
    values, shape_method = propagate_shapes(graph, model, example_inputs)
    builder = GraphBuilder("fx", model)
    builder.G.graph["shape_method"] = shape_method
    returned: list[fx.Node] = []
    derived = parameter_derived(graph)
    for node in graph.nodes:
        if node.op == "output":
            fx.node.map_arg(node.args[0], returned.append)
        elif node.op == "placeholder":
            builder.add(
                node,
                op_name=node.name,
                scope="",
                value=values.get(node),
                inputs=(),
                is_input=True,
                source=node.name,
            )
        elif node.op in ("call_module", "call_function", "call_method"):
            target = _target_name(node, model)
            builder.add(
                node,
                op_name=target,
                scope=tracer.node_name_to_scope.get(node.name, ("", None))[0],
                value=values.get(node),
                inputs=node.all_input_nodes,
                outputs_of=tracer.outputs_of.get(node, ()),
                weighted=_is_weighted(node, model, values, op_kind(target), derived),
                own_path=node.target if node.op == "call_module" else None,
                source=node.name,
                token=picked_token(target, node.args),
            )
    return builder.finish(returned)
