"""The ONNX frontend: the same rules on an exported graph, shapes from ``onnx.shape_inference``.

Points are named by module path where the file records it: the dynamo exporter keeps the module
scopes in each node's ``metadata_props`` (``pkg.torch.onnx.name_scopes``, classes in ``namespace``),
the TorchScript exporter in node names like ``/layer1/layer1.0/conv1/Conv``. Elsewhere points carry
the ONNX tensor names. Only floating-point tensors are the signal; shape arithmetic is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import torch

from ..errors import ConfigError
from ..ops import op_kind
from .builder import WEIGHT_OPS, GraphBuilder, module_ancestors, single_exits

__all__ = ["build_onnx_graph"]

_FLOAT_TYPES = {1: torch.float32, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16}


def _load(path: Path, input_shape: tuple | None):
    import onnx

    if not path.is_file():
        raise ConfigError(f"ONNX file {str(path)!r} not found; check the path")
    try:
        model = onnx.load(str(path))
    except Exception as e:
        raise ConfigError(
            f"{path} is not a readable ONNX file ({type(e).__name__}); it may be corrupt or "
            "truncated: export it again"
        ) from e
    if not model.graph.node:
        raise ConfigError(f"{path} holds an empty ONNX graph; export the model again")
    if input_shape is not None:
        first = next(
            i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
        )
        dims = first.type.tensor_type.shape.dim
        if len(dims) != len(input_shape):
            raise ConfigError(
                f"`input_shape` has {len(input_shape)} dims but {path} takes {len(dims)}"
            )
        for d, v in zip(dims, input_shape):
            d.ClearField("dim_param")
            d.dim_value = v
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception as e:
        raise ConfigError(
            f"shape inference failed on {path}: {str(e).splitlines()[0][:200]}; "
            "give concrete dims with `input_shape`"
        ) from e


def _value_infos(model) -> dict:
    """tensor name -> (shape with unknown dims as 1, torch dtype) for every float tensor."""
    infos = {}
    for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        t = v.type.tensor_type
        if t.elem_type in _FLOAT_TYPES and t.HasField("shape"):
            infos[v.name] = (
                tuple(d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim),
                _FLOAT_TYPES[t.elem_type],
            )
    return infos


def _scope(node) -> tuple[str, dict]:
    """(module path, {path: class name}) of an ONNX node, from dynamo metadata or TorchScript
    names."""
    props = {p.key: p.value for p in node.metadata_props}
    if "pkg.torch.onnx.name_scopes" in props:
        scopes = ast.literal_eval(props["pkg.torch.onnx.name_scopes"])
        classes = {}
        for part in props.get("namespace", "").split("/"):
            name, _, cls = part.partition(": ")
            if name.strip():
                classes[name.strip()] = cls.rsplit(".", 1)[-1]
        return (scopes[-2] if len(scopes) >= 2 else ""), classes
    if node.name.startswith("/"):
        path = ""
        for segment in node.name.strip("/").split("/")[:-1]:
            path = segment if (not path or segment.startswith(path + ".")) else f"{path}.{segment}"
        return path, {}
    return "", {}


def build_onnx_graph(path: str | Path, input_shape: tuple | None = None) -> nx.DiGraph:
    """The model graph of an ONNX file.

    Raises:
        ConfigError: missing, corrupt or truncated file; shapes that cannot be inferred.
    """
    path = Path(path)
    model = _load(path, input_shape)
    infos = _value_infos(model)
    weights = {t.name: len(t.dims) for t in model.graph.initializer}
    for (
        node
    ) in model.graph.node:  # copies and casts of weights are weights (TorchScript's Identity)
        if (
            node.op_type in ("Identity", "Cast", "Transpose")
            and node.input
            and all(n in weights for n in node.input)
        ):
            weights.update({o: weights[node.input[0]] for o in node.output})
        elif node.op_type == "Constant" and node.attribute and node.attribute[0].t.dims:
            weights.update({o: len(node.attribute[0].t.dims) for o in node.output})
    producers: dict[str, int] = {}
    rows = []  # (index, node, scope, float output or None)
    classes: dict[str, str] = {}
    for i, node in enumerate(model.graph.node):
        scope, found = _scope(node)
        classes.update(found)
        out = next((o for o in node.output if o in infos and o not in weights), None)
        rows.append((i, node, scope, out))
        if out is not None:
            for o in node.output:
                producers[o] = i
    signal = {i for i, _, _, out in rows if out is not None}
    users: dict[int, set] = {}
    for i, node, _, _ in rows:
        for name in node.input:
            if producers.get(name) in signal:
                users.setdefault(producers[name], set()).add(i)
    scope_of = {i: scope for i, _, scope, _ in rows}
    graph_outputs = {producers.get(o.name) for o in model.graph.output}
    exits = single_exits(
        sorted(signal),
        lambda i: set(module_ancestors(scope_of[i])),
        lambda i: (
            users.get(i, set()) | ({None} if i in graph_outputs or not users.get(i) else set())
        ),
    )
    outputs_of: dict[int, list[str]] = {}
    for p, i in exits.items():
        outputs_of.setdefault(i, []).append(p)
    builder = GraphBuilder("onnx")
    paths = {p for i in signal for p in module_ancestors(scope_of[i])}
    builder.G.graph.update(
        shape_method="onnx shape inference",
        modules={p: classes.get(p, "") for p in paths},
        children={
            p: sorted(c for c in paths if c.rsplit(".", 1)[0] == p and "." in c) for p in paths
        },
    )
    for p, kids in list(builder.G.graph["children"].items()):
        if not kids:
            del builder.G.graph["children"][p]
    inits = set(weights)
    for inp in model.graph.input:
        if inp.name not in inits and inp.name in infos:
            shape, dtype = infos[inp.name]
            builder.add(
                inp.name,
                op_name=inp.name,
                scope="",
                value=torch.empty(shape, dtype=dtype, device="meta"),
                inputs=(),
                is_input=True,
            )
            producers[inp.name] = inp.name
    module_weights: dict[str, int] = {}
    for i, node, scope, out in rows:
        if out is None:
            continue
        shape, dtype = infos[out]
        weighted = op_kind(node.op_type) in WEIGHT_OPS and any(
            weights.get(n, 0) >= 2 for n in node.input
        )
        if weighted:
            for p in module_ancestors(scope):
                module_weights[p] = module_weights.get(p, 0) + 1
        builder.add(
            i,
            op_name=node.op_type,
            scope=scope,
            value=torch.empty(shape, dtype=dtype, device="meta"),
            inputs=[producers[n] for n in node.input if n in producers],
            outputs_of=sorted(outputs_of.get(i, []), key=lambda p: -p.count(".")),
            weighted=weighted,
            own_path=None if scope else out,
        )
    builder.G.graph["module_weights"] = module_weights
    return builder.finish([producers.get(o.name) for o in model.graph.output])
