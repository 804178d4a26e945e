"""The recording frontend: the last resort, one real forward pass watched op by op.

Where neither fx nor torch.export can capture a model (Python-side effects, unsupported ops), it can
still run. A ``TorchFunctionMode`` records every torch function and tensor method the forward calls,
linking ops through the identity of the tensors they exchange, while forward hooks record which
module call returned which tensor, so points get the same module-path names as with fx. The forward
runs once under ``no_grad`` with the model's buffers swapped for copies: the model is left as found.
"""

from __future__ import annotations

import networkx as nx
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from ..errors import TraceError
from ..ops import op_kind
from .builder import WEIGHT_OPS, GraphBuilder, picked_token
from .swap import swapped_state

__all__ = ["build_recorded_graph"]

_IGNORED = {
    "__get__",
    "__set__",
    "size",
    "dim",
    "numel",
    "__len__",
    "__format__",
    "__repr__",
    "tolist",
    "item",
    "__bool__",
    "__index__",
    "__int__",
    "__float__",
    "data_ptr",
    "is_floating_point",
    "is_contiguous",
    "stride",
    "element_size",
}


def _mutates(name: str) -> bool:
    """Whether a tensor function or method of this name writes into its first argument.

    >>> _mutates("__setitem__"), _mutates("add_"), _mutates("__iadd__"), _mutates("add")
    (True, True, True, False)
    """
    return (
        name == "__setitem__"
        or (name.endswith("_") and not name.startswith("_"))
        or (name.startswith("__i") and name.endswith("__"))
    )


class _Recorder(TorchFunctionMode):
    def __init__(self, builder: GraphBuilder, scope: list[str], params: dict[int, torch.Tensor]):
        super().__init__()
        self.builder, self.scope, self.params = builder, scope, params
        self.keep: list = []  # hold every recorded tensor so ids stay unique for the whole run

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        if name in _IGNORED:
            return out
        flat, _ = tree_flatten((args, kwargs))
        tensors = [t for t in flat if isinstance(t, torch.Tensor)]
        produced = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if _mutates(name) and args and isinstance(args[0], torch.Tensor):
            # ``out[idx] = y`` and ``x.add_(y)`` write into their first argument: a new version
            produced = [args[0]]
        if not produced:
            return out
        weighted = op_kind(name) in WEIGHT_OPS and any(
            id(t) in self.params and t.dim() >= 2 for t in tensors
        )
        ident = ("op", len(self.keep))
        self.builder.add(
            ident,
            op_name=name,
            scope=self.scope[-1] if self.scope else "",
            value=produced[0] if out is None else out,
            inputs=[self._id(t) for t in tensors],
            weighted=weighted,
            token=picked_token(name, args),
        )
        for t in produced:
            self.builder.alias(self._id(t), ident)
        self.keep.append((out, args, kwargs))
        return out

    @staticmethod
    def _id(t: torch.Tensor):
        return ("tensor", id(t))


def build_recorded_graph(model: nn.Module, example_inputs: tuple) -> nx.DiGraph:
    """Record one real forward pass of ``model`` on ``example_inputs`` as the model graph.

    Raises:
        TraceError: when the forward pass itself fails.
    """
    builder = GraphBuilder("record", model)
    builder.G.graph["shape_method"] = "real"
    scope: list[str] = []
    paths = {id(m): p for p, m in model.named_modules() if p}
    params = {id(p): p for p in model.parameters()}
    returns: dict = {}

    def pre(module, args):
        scope.append(paths.get(id(module), scope[-1] if scope else ""))

    def post(module, args, out):
        path = scope.pop()
        if id(module) in paths:
            tensors = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
            for rank, t in enumerate(tensors):
                key = builder.key(("tensor", id(t)))
                if key is not None:
                    returns.setdefault(key, []).append(path if rank == 0 else f"{path}[{rank}]")

    handles = [m.register_forward_pre_hook(pre) for m in model.modules() if m is not model]
    handles += [m.register_forward_hook(post) for m in model.modules() if m is not model]
    recorder = _Recorder(builder, scope, params)
    for i, x in enumerate(example_inputs):
        if isinstance(x, torch.Tensor):
            builder.add(
                ("tensor", id(x)),
                op_name=f"input_{i}" if i else "x",
                scope="",
                value=x,
                inputs=(),
                is_input=True,
            )
    try:  # on cloned buffers: BatchNorm's running statistics stay the model's own
        with torch.no_grad(), swapped_state(model, torch.clone, parameters=False), recorder:
            out = model(*example_inputs)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = f" in {scope[-1]}" if scope else ""
        raise TraceError(
            f"{type(model).__name__} fails on its example input{where}: "
            f"{type(e).__name__}: {first[:300]}"
        ) from e
    finally:
        for h in handles:
            h.remove()
    builder.name_module_outputs(returns)
    outputs = [("tensor", id(t)) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    return builder.finish(outputs)
