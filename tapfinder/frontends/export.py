"""The torch.export frontend: the fallback for models torch.fx cannot trace symbolically.

``torch.export.export(..., strict=False)`` runs the model on fake tensors and records ATen ops, so
Python control flow that depends on shapes is resolved, and every node carries ``nn_module_stack``
(module paths survive) and ``val`` (shapes come free). A module's output is the one node of its call
whose value is used outside that call.
"""

from __future__ import annotations

import networkx as nx
import torch
from torch import fx, nn

from ..errors import TraceError
from ..ops import op_kind
from .builder import WEIGHT_OPS, GraphBuilder, picked_token, single_exits

__all__ = ["build_export_graph"]


def _stack(node: fx.Node) -> list[tuple[str, str]]:
    """(call key, module path) from outermost to innermost, the root left out."""
    return [(key, path) for key, (path, _) in node.meta.get("nn_module_stack", {}).items() if path]


def _outputs_of(graph: fx.Graph) -> dict[fx.Node, list[str]]:
    """Module calls whose single exit node is each node, innermost first."""
    paths = {key: path for node in graph.nodes for key, path in _stack(node)}
    exits = single_exits(
        graph.nodes,
        lambda n: {key for key, _ in _stack(n)},
        lambda n: [None if u.op == "output" else u for u in n.users],
    )
    found: dict[fx.Node, list[str]] = {}
    for key, node in exits.items():
        found.setdefault(node, []).append(paths[key])
    for outer in found.values():  # innermost first: deeper paths first
        outer.sort(key=lambda p: -p.count("."))
    return found


def build_export_graph(model: nn.Module, example_inputs: tuple) -> nx.DiGraph:
    """Export ``model`` (non-strict) on ``example_inputs`` and return the model graph.

    Raises:
        TraceError: when torch.export fails; the message carries its first line.
    """
    try:
        ep = torch.export.export(model, tuple(example_inputs), strict=False)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TraceError(f"torch.export failed: {first[:300]}") from e
    sig = ep.graph_signature
    user_inputs = set(sig.user_inputs)
    params = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    state = ep.state_dict
    builder = GraphBuilder("export", model)
    builder.G.graph["shape_method"] = "fake"
    outputs_of = _outputs_of(ep.graph)
    returned: list[fx.Node] = []
    for node in ep.graph.nodes:
        value = node.meta.get("val")
        if node.op == "placeholder":
            if node.name in user_inputs:
                builder.add(
                    node, op_name=node.name, scope="", value=value, inputs=(), is_input=True
                )
        elif node.op == "call_function":
            name = getattr(
                node.target, "_opname", getattr(node.target, "__name__", str(node.target))
            )
            weights = [state.get(params[a.name]) for a in node.all_input_nodes if a.name in params]
            stack = _stack(node)
            builder.add(
                node,
                op_name=name,
                scope=stack[-1][1] if stack else "",
                value=value,
                inputs=node.all_input_nodes,
                outputs_of=outputs_of.get(node, ()),
                token=picked_token(name, node.args),
                weighted=op_kind(name) in WEIGHT_OPS
                and any(isinstance(w, torch.Tensor) and w.dim() >= 2 for w in weights),
            )
        elif node.op == "output":
            fx.node.map_arg(node.args[0], returned.append)
    user_outputs = (
        returned[len(returned) - len(sig.user_outputs) :] if sig.user_outputs else returned
    )
    return builder.finish(user_outputs)
