"""Shapes without compute: run a traced program on meta tensors, falling back to fake, then real.

:func:`propagate_shapes` executes an fx graph node by node with the model's parameters and buffers
swapped (:func:`~tapfinder.frontends.swap.swapped_state`) for meta copies, so nothing is computed,
nothing is
allocated and the user's module is never written (BatchNorm's running stats included). Programs that
read tensor values (``.item()``, ``nonzero``) cannot run on meta tensors; for those it retries under
``FakeTensorMode`` and, last, on real tensors under ``no_grad`` with cloned buffers.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import torch
from torch import fx, nn

from ..errors import TraceError
from .swap import swapped_state

__all__ = ["ShapeRun", "propagate_shapes", "attr_at"]


# Leaf modules whose output has exactly their input's shape and dtype: on meta tensors their output
# is
# made directly, which skips the slow decompositions of train-mode norms.
_SHAPE_PRESERVING: tuple[type, ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Mish,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.Softplus,
    nn.Hardtanh,
    nn.Softmax,
    nn.LogSoftmax,
) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


_ADAPTIVE_POOLS = {
    nn.AdaptiveAvgPool1d: 1,
    nn.AdaptiveAvgPool2d: 2,
    nn.AdaptiveAvgPool3d: 3,
    nn.AdaptiveMaxPool1d: 1,
    nn.AdaptiveMaxPool2d: 2,
    nn.AdaptiveMaxPool3d: 3,
}


def _adaptive(x: torch.Tensor, size, dims: int) -> torch.Tensor:
    """Output of adaptive pooling to ``size`` over the last ``dims`` axes (None keeps an axis).

    Its meta kernel is a Python decomposition whose first call imports hundreds of modules."""
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    kept = tuple(x.shape[-dims + i] if s is None else s for i, s in enumerate(size))
    return x.new_empty((*x.shape[:-dims], *kept))


def attr_at(root: nn.Module, path: str) -> Any:
    """``root.a.b.c`` for ``path`` ``"a.b.c"``: a submodule, parameter, buffer or plain
    attribute."""
    return functools.reduce(getattr, path.split("."), root)


_CONVS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_TRANSPOSED = {nn.ConvTranspose1d: 1, nn.ConvTranspose2d: 2, nn.ConvTranspose3d: 3}


def _conv_transpose(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Output of a ``nn.ConvTransposeNd`` called without ``output_size``, from the usual
    arithmetic."""
    dims = _TRANSPOSED[type(module)]
    if x.dim() != dims + 2 or x.shape[1] != module.in_channels:
        return None
    spatial = [
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(
            x.shape[2:],
            module.stride,
            module.padding,
            module.dilation,
            module.kernel_size,
            module.output_padding,
        )
    ]
    return x.new_empty((x.shape[0], module.out_channels, *spatial)) if min(spatial) >= 1 else None


def _conv(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Output of a plain ``nn.ConvNd`` from the usual arithmetic. Without a bias the meta kernel is
    a Python function whose first call imports hundreds of modules."""
    dims = _CONVS[type(module)]
    if x.dim() != dims + 2 or x.shape[1] != module.in_channels:
        return None
    if isinstance(module.padding, str):
        if module.padding == "same":
            return x.new_empty((x.shape[0], module.out_channels, *x.shape[2:]))
        pad = (0,) * dims
    else:
        pad = module.padding
    spatial = [
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, p, d, k, s in zip(
            x.shape[2:], pad, module.dilation, module.kernel_size, module.stride
        )
    ]
    if any(n < 1 for n in spatial):
        return None  # let the real kernel raise its own error
    return x.new_empty((x.shape[0], module.out_channels, *spatial))


_POOLS = {
    nn.MaxPool1d: 1,
    nn.MaxPool2d: 2,
    nn.MaxPool3d: 3,
    nn.AvgPool1d: 1,
    nn.AvgPool2d: 2,
    nn.AvgPool3d: 3,
}


def _pool(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Output of max/avg pooling from the usual arithmetic (their meta kernels' checks import
    sympy on first use)."""
    dims = _POOLS[type(module)]
    if getattr(module, "return_indices", False) or x.dim() not in (dims + 1, dims + 2):
        return None

    def per_dim(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims

    k, st = per_dim(module.kernel_size), per_dim(module.stride or module.kernel_size)
    pad, dil = per_dim(module.padding), per_dim(getattr(module, "dilation", 1))
    spatial = []
    for n, kk, ss, pp, dd in zip(x.shape[-dims:], k, st, pad, dil):
        span = n + 2 * pp - dd * (kk - 1) - 1
        out = (-(-span // ss) if module.ceil_mode else span // ss) + 1
        if module.ceil_mode and (out - 1) * ss >= n + pp:
            out -= 1  # the last window must start inside the input or its left padding
        spatial.append(out)
    if any(n < 1 for n in spatial):
        return None
    return x.new_empty((*x.shape[:-dims], *spatial))


def _shape_only(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """A leaf module's output on meta tensors, made from its shape rule where one is known (shape-
    preserving modules, convolutions, pooling, Linear, MultiheadAttention without weights), or
    ``None`` to run it."""
    x = args[0] if args else kwargs.get("query", kwargs.get("input"))
    if not isinstance(x, torch.Tensor) or not x.is_meta:
        return None
    if isinstance(module, nn.MultiheadAttention) and kwargs.get("need_weights") is False:
        return x.new_empty((*x.shape[:-1], module.embed_dim)), None
    if len(args) != 1 or kwargs:  # every rule below is for a module called on one tensor
        return None
    if isinstance(module, _SHAPE_PRESERVING):
        return x.new_empty(x.shape)
    if type(module) in _CONVS:
        return _conv(module, x)
    if type(module) in _TRANSPOSED:
        return _conv_transpose(module, x)
    if type(module) in _POOLS:
        return _pool(module, x)
    if type(module) is nn.Linear:
        return x.new_empty((*x.shape[:-1], module.out_features))
    dims = next((d for cls, d in _ADAPTIVE_POOLS.items() if isinstance(module, cls)), None)
    if dims is not None and not getattr(module, "return_indices", False):
        return _adaptive(x, module.output_size, dims)
    return None


_ELEMENTWISE = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.iadd,
    operator.imul,
    torch.add,
    torch.sub,
    torch.mul,
    torch.relu,
    torch.sigmoid,
    torch.tanh,
    torch.nn.functional.relu,
    torch.nn.functional.gelu,
    torch.nn.functional.silu,
    torch.nn.functional.dropout,
}
_ADAPTIVE_FUNCTIONS = {
    torch.nn.functional.adaptive_avg_pool1d: 1,
    torch.nn.functional.adaptive_avg_pool2d: 2,
    torch.nn.functional.adaptive_avg_pool3d: 3,
}
_ELEMENTWISE_METHODS = {
    "add",
    "sub",
    "mul",
    "relu",
    "sigmoid",
    "tanh",
    "add_",
    "mul_",
    "relu_",
    "contiguous",
}


def _elementwise_only(target, args: tuple, kwargs: dict) -> Any:
    """The output of an elementwise op on meta tensors of one shape and dtype (or with Python
    scalars), made directly: the Python reference decompositions are slow on meta."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if (
        not tensors
        or not all(t.is_meta for t in tensors)
        or any(isinstance(v, torch.Tensor) for v in kwargs.values())
    ):
        return None
    first = tensors[0]
    if any(t.shape != first.shape or t.dtype != first.dtype for t in tensors[1:]):
        return None
    if any(not isinstance(a, (torch.Tensor, int, float, bool)) for a in args):
        return None
    if any(isinstance(a, float) for a in args) and not first.is_floating_point():
        return None  # int tensor * float scalar promotes to float
    return first.new_empty(first.shape)


def _concat_only(args: tuple, kwargs: dict) -> Any:
    """``torch.cat`` of meta tensors of one dtype and rank, made directly: the first meta ``cat``
    imports hundreds of modules for its Python shape rule."""
    if not args or not isinstance(args[0], (list, tuple)) or set(kwargs) - {"dim"} or len(args) > 2:
        return None
    tensors, dim = list(args[0]), args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if (
        not tensors
        or not isinstance(dim, int)
        or not all(isinstance(t, torch.Tensor) and t.is_meta for t in tensors)
    ):
        return None
    first = tensors[0]
    if first.dim() == 0 or any(t.dim() != first.dim() or t.dtype != first.dtype for t in tensors):
        return None
    if not -first.dim() <= dim < first.dim():
        return None  # torch raises its own error
    dim = dim % first.dim()
    if any(
        t.shape[:dim] != first.shape[:dim] or t.shape[dim + 1 :] != first.shape[dim + 1 :]
        for t in tensors
    ):
        return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return first.new_empty(shape)


class ShapeRun(fx.Interpreter):
    """Runs a traced program node by node and keeps every node's value (cf. torch's ``ShapeProp``).

    Only the three call kinds are overridden, to make the outputs of elementwise ops, ``cat``,
    adaptive pooling and known leaf modules directly on meta tensors; a failure is a
    :class:`TraceError` naming the module or op where it happened.
    """

    def __init__(self, root: nn.Module, graph: fx.Graph):
        super().__init__(root, garbage_collect_values=False, graph=graph)

    def run_node(self, n: fx.Node) -> Any:
        try:
            return super().run_node(n)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            where = n.target if n.op == "call_module" else n.name
            raise TraceError(
                f"shape propagation failed at {where}: {type(e).__name__}: {first[:300]}"
            ) from e

    def call_function(self, target, args, kwargs) -> Any:
        value = None
        if target in _ELEMENTWISE:
            value = _elementwise_only(target, args, kwargs)
        elif target in _ADAPTIVE_FUNCTIONS and len(args) == 2 and not kwargs and args[0].is_meta:
            value = _adaptive(args[0], args[1], _ADAPTIVE_FUNCTIONS[target])
        elif target in (torch.cat, torch.concat):
            value = _concat_only(args, kwargs)
        return super().call_function(target, args, kwargs) if value is None else value

    def call_method(self, target, args, kwargs) -> Any:
        value = _elementwise_only(target, args, kwargs) if target in _ELEMENTWISE_METHODS else None
        return super().call_method(target, args, kwargs) if value is None else value

    def call_module(self, target, args, kwargs) -> Any:
        value = _shape_only(self.fetch_attr(target), args, kwargs)
        return super().call_module(target, args, kwargs) if value is None else value


def _run_graph(graph: fx.Graph, root: nn.Module, inputs: tuple) -> dict[fx.Node, Any]:
    """Execute ``graph`` against ``root`` and return every node's value."""
    run = ShapeRun(root, graph)
    run.run(*inputs, enable_io_processing=False)
    return dict(run.env)


def _state(root: nn.Module) -> list[torch.Tensor]:
    return [*root.parameters(), *root.buffers()]


def _run_meta(graph, root, inputs):
    meta_inputs = tuple(
        torch.empty_like(x, device="meta") if isinstance(x, torch.Tensor) else x for x in inputs
    )
    with swapped_state(root, lambda t: torch.empty_like(t, device="meta")):
        return _run_graph(graph, root, meta_inputs)


def _run_fake(graph, root, inputs):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True) as mode, swapped_state(root, mode.from_tensor):
        fake_inputs = tuple(
            mode.from_tensor(x) if isinstance(x, torch.Tensor) else x for x in inputs
        )
        return _run_graph(graph, root, fake_inputs)


def _run_real(graph, root, inputs):
    with torch.no_grad(), swapped_state(root, torch.clone, parameters=False):
        return _run_graph(graph, root, inputs)


def propagate_shapes(
    graph: fx.Graph,
    root: nn.Module,
    inputs: tuple,
) -> tuple[dict[fx.Node, Any], str]:
    """Run ``graph`` on ``inputs`` with the cheapest tensors that work.

    Returns:
        (values, method): every node's output value and which of ``"meta"``, ``"fake"``, ``"real"``
        ran.

    Raises:
        TraceError: when even a real forward fails; the message names the failing node.
    """
    on_meta = any(t.is_meta for t in _state(root))
    attempts = (
        [("meta", _run_meta)]
        if on_meta
        else [("meta", _run_meta), ("fake", _run_fake), ("real", _run_real)]
    )
    failure: TraceError | None = None
    for method, run in attempts:
        try:
            return run(graph, root, inputs), method
        except TraceError as e:
            failure = failure or e
        except Exception as e:  # functional_call itself failed; try the next kind of tensor
            failure = failure or TraceError(f"shape propagation failed: {type(e).__name__}: {e}")
    assert failure is not None
    raise failure
