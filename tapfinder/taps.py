"""Taps: attach a selection's heads to the live model, and take them off again exactly.

:func:`attach` wraps the model in a :class:`TappedModel` that owns the heads. Module outputs are
read with forward hooks; a point that is no module's output goes through an fx rewrite that shares
every parameter with the model and is never registered, so ``tapped.model.state_dict()`` stays
the original's. ``forward`` returns a :class:`TapOutput` (main output, aux logits, features).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import fx, nn

from .adapters import AdapterSpec, build_adapter, main_head_input, reads_class_token
from .errors import ConfigError, TraceError
from .frontends.builder import first_tensor
from .frontends.shapes import attr_at
from .graph import info

__all__ = ["TapOutput", "TappedModel", "attach"]


class TapOutput(NamedTuple):
    main: Any  # whatever the model returns
    aux: list  # one logits tensor per tap point, in depth order
    features: list  # the tapped features themselves (for feature regularisers)


def _head_key(name: str) -> str:
    return name.replace(".", "__").replace("[", "_").replace("]", "_")


class _Record(nn.Module):
    """Identity that hands its input to the tapped model's side channel (inserted by the fx
    rewrite)."""

    def __init__(self, point: str, store):
        super().__init__()
        self.point = point
        self._store = store

    def forward(self, x):
        self._store(self.point, x)
        return x


def rewrite_with_recorders(
    model: nn.Module, fx_nodes: dict[str, str], store, n_inputs: int | None
) -> fx.GraphModule:
    """``model``'s program with a :class:`_Record` after each fx node (point name → fx node name).

    The GraphModule's modules and attributes are the model's own objects, so training updates both.

    Raises:
        ConfigError: fx cannot trace the model in its current mode, or a node is gone in this mode.
    """
    from .frontends.fx import trace_fx

    try:
        graph, _ = trace_fx(model, n_inputs=n_inputs)
    except TraceError as e:
        raise ConfigError(f"{e}; tap module outputs instead of {', '.join(fx_nodes)}") from None
    nodes = {n.name: n for n in graph.nodes}
    owner: dict[str, object] = {}
    for point, name in fx_nodes.items():
        node = nodes.get(name)
        if node is None:
            raise ConfigError(
                f"tap point {point!r} is not in the model's {'train' if model.training else 'eval'}"
                "-mode program; tap a module output instead"
            )
        target = f"_tapfinder_record_{len(owner)}"
        owner[target] = _Record(point, store)
        with graph.inserting_after(node):
            record = graph.call_module(target, (node,))
        node.replace_all_uses_with(record, delete_user_cb=lambda user: user is not record)
    for node in graph.nodes:  # everything else the program reads, as the model's own objects
        if node.op in ("call_module", "get_attr") and node.target not in owner:
            owner[node.target] = attr_at(model, node.target)
    return fx.GraphModule(owner, graph, class_name=f"Tapped{type(model).__name__}")


class _ScaledGrad(torch.autograd.Function):
    """Identity forward; the gradient flowing back through it is multiplied by ``scale``."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def scaled_grad(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` whose gradient is multiplied by ``scale`` on its way back (1: ``x`` itself, 0:
    detached).

    >>> x = torch.ones(2, requires_grad=True)
    >>> scaled_grad(x, 0.25).sum().backward()
    >>> x.grad.tolist()
    [0.25, 0.25]
    """
    if scale == 1.0:
        return x
    if scale == 0.0:
        return x.detach()
    return _ScaledGrad.apply(x, scale)


class TappedModel(nn.Module):
    """The original model plus one head per tap point; see the module docstring.

    Args:
        points: module paths, or graph node names for points read through the fx rewrite.
        fx_nodes: point name → fx node name, for the points that are no module's output.
    """

    def __init__(
        self,
        model: nn.Module,
        points: list[str],
        heads: list[nn.Module],
        fx_nodes: dict[str, str] | None = None,
        n_inputs: int | None = None,
    ):
        super().__init__()
        self.model = model
        self.points = list(points)
        self.heads = nn.ModuleDict({_head_key(p): h for p, h in zip(points, heads)})
        self._features: dict[str, torch.Tensor] = {}
        self._fx_nodes = dict(fx_nodes or {})
        self._n_inputs = n_inputs
        # how much of the heads' gradient reaches the model's own layers (the heads learn in full)
        self.aux_grad = 1.0
        # per training mode, never a registered child; keyed by the model's modules too, because the
        # rewritten program holds the modules it was traced with (convert_sync_batchnorm swaps them)
        self._runners: dict[bool, tuple[tuple[int, ...], fx.GraphModule]] = {}
        self._handles = [
            model.get_submodule(p).register_forward_hook(self._hook(p))
            for p in points
            if p not in self._fx_nodes
        ]
        if self._fx_nodes:
            self._runner()  # fail now, not at the first step, when fx cannot rewrite the model

    def _hook(self, point: str):
        def store(module, args, out):
            self._store(point, out)

        return store

    def _store(self, point: str, value) -> None:
        self._features[point] = first_tensor(value)

    def _runner(self) -> nn.Module:
        if not self._fx_nodes:
            return self.model
        mode, modules = self.model.training, tuple(map(id, self.model.modules()))
        if self._runners.get(mode, ((),))[0] != modules:
            self._runners[mode] = (
                modules,
                rewrite_with_recorders(self.model, self._fx_nodes, self._store, self._n_inputs),
            )
        return self._runners[mode][1]

    def _apply(self, fn, *args, **kwargs):
        self._runners = {}  # buffers may be new tensors now: trace again on the next forward
        return super()._apply(fn, *args, **kwargs)

    def forward(self, *args, **kwargs) -> TapOutput:
        self._features = {}
        main = self._runner()(*args, **kwargs)
        features = [self._features[p] for p in self.points]
        self._features = {}
        aux = [self.head(p)(scaled_grad(f, self.aux_grad)) for p, f in zip(self.points, features)]
        return TapOutput(main, aux, features)

    def detach(self) -> nn.Module:
        """Remove the hooks and return the original model (heads dropped: zero inference
        overhead)."""
        for h in self._handles:
            h.remove()
        self._handles, self._runners, self._fx_nodes = [], {}, {}
        return self.model

    def head(self, point: str) -> nn.Module:
        """The aux head reading ``point`` (a module path from ``self.points``)."""
        return self.heads[_head_key(point)]


HEAD_NORMS = ("auto", "batch", "none")


def _heads_normalize(selection, head_norm: str) -> bool:
    """Whether map heads get BatchNorm: as asked, or (``auto``) when the model normalizes somewhere
    on its whole-signal path (DKS builds its heads from the backbone's own blocks)."""
    if head_norm not in HEAD_NORMS:
        raise ConfigError(f"`head_norm` must be one of {', '.join(HEAD_NORMS)}, got {head_norm!r}")
    if head_norm != "auto":
        return head_norm == "batch"
    return any(info(selection.graph, n).op == "norm" for n in selection.graph)


def attach(
    model: nn.Module,
    selection,
    task: str = "classification",
    num_classes: int = 10,
    adapter: str = "dks",
    head_norm: str = "batch",
) -> TappedModel:
    """Build a head for every point of ``selection`` and hook them onto ``model``.

    Module outputs are read with forward hooks; other points through an fx rewrite of the model.
    ``head_norm``: ``auto`` (map heads normalize as the backbone does: BatchNorm where the model
    normalizes, none in a norm-free net), ``batch`` or ``none``.

    Raises:
        ConfigError: a point that is no module's output in a model fx cannot trace (pick module
            outputs with ``points=``), or features the task cannot use.
    """
    modules = dict(model.named_modules())
    G = selection.graph
    norm = _heads_normalize(selection, head_norm)
    paths, heads, fx_nodes = [], [], {}
    for p in selection.points:
        record = info(G, p.name)
        names = (p.name, *record.outputs_of, *record.aliases)
        path = next((q for q in names if q and q in modules), None)
        if path is None:
            if selection.method != "fx" or not record.source:
                examples = ", ".join(
                    c.name for c in selection.candidates if c.eligible and c.name in modules
                )[:120]
                raise ConfigError(
                    f"tap point {p.name!r} is not the output of a module and the model was not "
                    f"traced by torch.fx ({selection.method}), so it cannot be rewritten; "
                    f"choose module outputs (for example {examples})"
                )
            path = p.name
        fx_nodes[path] = record.source
        layout = record.layout or "flat"
        maps = layout == "channels_first" or (layout == "channels_last" and len(p.shape) >= 4)
        main = main_head_input(selection, layout, len(p.shape) - 2 if maps else None) or tuple(
            p.shape
        )
        tokens = layout == "channels_last" and len(p.shape) == 3
        spec = AdapterSpec(
            tuple(p.shape),
            layout,
            main,
            task,
            num_classes,
            adapter,
            cls_token=tokens and reads_class_token(G, p.shape[1]),
            norm=norm,
        )
        paths.append(path)
        heads.append(build_adapter(spec))
    if all(p in modules for p in paths):  # hooks alone: the model's own forward runs
        fx_nodes = {}
    # else every point is read by the rewrite: in the traced program, container modules are not
    # called
    return TappedModel(model, paths, heads, fx_nodes, n_inputs=len(selection.inputs) or None)
