"""The public entry points: :func:`select_points` and :func:`node_names`."""

from __future__ import annotations

import time
from pathlib import Path

import networkx as nx
import torch
from torch import nn

from .context import build_context
from .errors import ConfigError, TraceError
from .frontends import build_model_graph
from .frontends.modes import in_mode
from .progress import report
from .rules import run_analyzers
from .selection import Selection
from .selector import candidates_from, choose, normalize_points
from .sources import guess_example_inputs, input_for, load_model, random_input

__all__ = ["select_points", "node_names", "build_graph"]


def _as_inputs(example_inputs) -> tuple:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    raise ConfigError(
        "example_inputs must be a tensor or a tuple of tensors, got "
        f"{type(example_inputs).__name__}"
    )


def _resolve(model, example_inputs, input_shape, input_dtype=None):
    name = type(model).__name__
    if isinstance(model, str):
        report("building the model")
        source = load_model(model)
        model, name = source.model, source.name
        example_inputs = example_inputs if example_inputs is not None else source.example_inputs
    if not isinstance(model, nn.Module):
        raise ConfigError(f"expected an nn.Module or a model name, got {type(model).__name__}")
    if input_shape is not None:
        example_inputs = (_shaped(model, input_shape, input_dtype),)
    if example_inputs is None:
        example_inputs = guess_example_inputs(model)
    return model, _as_inputs(example_inputs), name


def build_graph(
    model: nn.Module,
    example_inputs,
    methods: tuple[str, ...] = ("fx", "export", "record"),
) -> nx.DiGraph:
    """The model graph of ``model`` in train mode (the graph that taps train on), from the first
    frontend in ``methods`` that can build it (see :mod:`tapfinder.frontends`)."""
    with in_mode(model, True):
        try:
            return build_model_graph(model, _as_inputs(example_inputs), methods)
        except TraceError as e:
            shapes = ", ".join(
                str(tuple(x.shape))
                for x in _as_inputs(example_inputs)
                if isinstance(x, torch.Tensor)
            )
            raise TraceError(
                f"{e} (example input {shapes}; give one the model takes with `input_shape`)"
            ) from e


def _shaped(model: nn.Module, shape: tuple, dtype: str | None) -> torch.Tensor:
    """A random input of ``shape``: of ``dtype`` when given (``long`` for token ids), else as the
    model's first layer takes (token ids for an embedding)."""
    if dtype is None:
        return input_for(model, shape)
    kind = getattr(torch, str(dtype), None)
    if not isinstance(kind, torch.dtype):
        raise ConfigError(
            f"`input_dtype` must be a torch dtype such as float32 or long, got {dtype!r}"
        )
    vocab = next((m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)), 2)
    return random_input(shape, kind, vocab)


def select_points(
    model, example_inputs=None, points="auto", *, input_shape=None, input_dtype=None
) -> Selection:
    """Analyse ``model`` and choose where deep-supervision heads go.

    Args:
        model: an ``nn.Module``, a name/file understood by :func:`tapfinder.sources.load_model`, or
            the path of an ``.onnx`` file.
        example_inputs: a tensor or tuple of tensors; inferred from the source when omitted.
        points: ``"auto"`` (about log D points), a count, or a list of node names.
        input_shape: make a random example input of this shape instead (``input_dtype``: its
            dtype, e.g. ``long`` for token ids; by default what the model's first layer takes).

    Returns:
        a :class:`Selection`; the model is left as found (mode, parameters, buffers).

    Raises:
        ConfigError, TraceError, NodeNotFoundError (all :class:`TapfinderError`).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
    ...                     nn.Conv2d(8, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
    ...                     nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))
    >>> sel = select_points(net, torch.randn(2, 3, 32, 32))
    >>> sel.depth, sel.names
    (4, ['4'])
    """
    wanted = normalize_points(points)
    start = time.perf_counter()
    if isinstance(model, (str, Path)) and str(model).endswith(".onnx"):
        from .frontends.onnx import build_onnx_graph

        t_resolved = time.perf_counter()
        G = build_onnx_graph(model, input_shape)
        name, shapes = Path(model).name, [G.nodes[i]["tf"].shape for i in G.graph["inputs"]]
    else:
        model, inputs, name = _resolve(model, example_inputs, input_shape, input_dtype)
        t_resolved = time.perf_counter()
        G = build_graph(model, inputs)
        shapes = [tuple(x.shape) for x in inputs if isinstance(x, torch.Tensor)]
    t_graph = time.perf_counter()
    report("running the rules")
    ctx = build_context(G)
    findings = run_analyzers(G, ctx)
    candidates, window = candidates_from(G, ctx, findings)
    chosen, notes = choose(G, ctx, candidates, window, wanted)
    end = time.perf_counter()
    return Selection(
        model=name,
        points=chosen,
        candidates=candidates,
        depth=ctx.D,
        graph=G,
        depths={n: ctx.depth.get(n, 0) for n in G},
        whole=frozenset(filter(ctx.sees_whole, G)),
        method=G.graph["method"],
        shape_method=G.graph["shape_method"],
        window=window,
        inputs=shapes,
        timings={
            "load": round(t_resolved - start, 4),
            "graph": round(t_graph - t_resolved, 4),
            "rules": round(end - t_graph, 4),
        },
        notes=notes,
        fallbacks=[tuple(f) for f in G.graph.get("fallbacks", [])],
    )


def node_names(model: nn.Module, example_inputs=None) -> list[str]:
    """Every name a point can be given for ``model``: graph nodes in order, then their aliases."""
    model, inputs, _ = _resolve(model, example_inputs, None)
    G = build_graph(model, inputs)
    keys = sorted(G.nodes, key=lambda n: G.nodes[n]["tf"].order)
    aliases = [a for n in keys for a in G.nodes[n]["tf"].aliases]
    return keys + [a for a in aliases if a not in G]
