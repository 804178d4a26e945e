"""Taps: attach a selection's heads to the live model, and take them off again exactly.

:func:`attach` wraps the model in a :class:`TappedModel` that owns the heads. Module outputs are
read with forward hooks; a point that is no module's output goes through an fx rewrite that shares
every parameter with the model and is never registered, so ``tapped.model.state_dict()`` stays
the original's. ``forward`` returns a :class:`TapOutput` (main output, aux logits, features).
A head's gradient into the model may be made to yield to, or be no larger than, the gradient the
model's own deeper layers send to its tap (``head_gradient``; in full by default).
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import torch
from torch import fx, nn

from .adapters import AdapterSpec, TokenwiseHead, build_adapter, main_head_input, reads_class_token
from .errors import ConfigError, TraceError
from .frontends.builder import first_tensor
from .frontends.modes import in_mode
from .frontends.shapes import attr_at
from .graph import info

__all__ = ["TapOutput", "TappedModel", "Capture", "attach", "head_key"]


class TapOutput(NamedTuple):
    main: Any  # whatever the model returns
    aux: list  # one logits tensor per tap point, in depth order
    features: list  # the tapped features themselves (for feature regularisers)


def head_key(name: str) -> str:
    return name.replace(".", "__").replace("[", "_").replace("]", "_")


class Capture:
    """A forward hook that keeps its module's output (first tensor) under ``point`` in ``found``;
    the kept tensor's gradient into the model follows ``rule`` (:data:`HEAD_GRADIENTS`)."""

    def __init__(self, found: dict, point: str, rule: str = "full"):
        self.found, self.point, self.rule = found, point, rule

    def __call__(self, module, args, out):
        if self.rule == "full":
            self.found[self.point] = first_tensor(out)
            return None
        own, head = split_value(out, self.rule)
        self.found[self.point] = first_tensor(head)
        return own


def with_first_tensor(value: Any, tensor: torch.Tensor) -> Any:
    """``value`` with its first tensor (as :func:`first_tensor` finds it) replaced by ``tensor``."""
    if isinstance(value, torch.Tensor):
        return tensor
    if isinstance(value, dict):
        key = next(k for k, v in value.items() if first_tensor(v) is not None)
        return {**value, key: with_first_tensor(value[key], tensor)}
    index = next(i for i, v in enumerate(value) if first_tensor(v) is not None)
    items = list(value)
    items[index] = with_first_tensor(items[index], tensor)
    return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)


class _Split(torch.autograd.Function):
    """``x`` twice: for the model's own layers and for a head. The gradient back is the model's
    plus the head's as ``rule`` makes it, against the model's (:data:`HEAD_GRADIENTS`)."""

    @staticmethod
    def forward(ctx, x, rule):
        ctx.rule = rule
        return x.clone(), x.view_as(x)

    @staticmethod
    def backward(ctx, own, head):
        return own + _HEAD_RULES[ctx.rule](head, own), None


def yielded(head: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """``head`` without its component along ``own`` where the two point apart, per sample (dim 0).

    >>> own = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> yielded(torch.tensor([[-2.0, 3.0], [2.0, 3.0]]), own).tolist()
    [[0.0, 3.0], [2.0, 3.0]]
    """
    h, o = head.flatten(1).float(), own.flatten(1).float()
    against = (h * o).sum(1, keepdim=True).clamp(max=0.0)
    scale = against / (o * o).sum(1, keepdim=True).clamp_min(torch.finfo(o.dtype).tiny)
    return (h - scale * o).view_as(head).to(head.dtype)


def balanced(head: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """``head`` scaled down, per sample (dim 0), to at most the norm of ``own``; its direction is
    kept.

    >>> own = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    >>> balanced(torch.tensor([[0.0, 4.0], [3.0, 0.0]]), own).tolist()
    [[0.0, 1.0], [3.0, 0.0]]
    """
    h, o = head.flatten(1).float(), own.flatten(1).float()
    h_norm = h.norm(dim=1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    scale = (o.norm(dim=1, keepdim=True) / h_norm).clamp(max=1.0)
    return (h * scale).view_as(head).to(head.dtype)


# what a head's gradient into the model becomes at its tap, given the model's own gradient there:
# "full" as it is (the default), "yield" without the part against the model's (:func:`yielded`),
# "balance" no larger than the model's, per sample (:func:`balanced`); measured: docs/recipes.md
_HEAD_RULES = {"yield": yielded, "balance": balanced}
HEAD_GRADIENTS = ("full", *_HEAD_RULES)
# each rule in words, for a preview
HEAD_GRADIENT_WORDS = {
    "full": "in full",
    "yield": "without its part against the model's own there, per sample",
    "balance": "at most as large as the model's own there, per sample",
}


def rewrite_with_outputs(
    model: nn.Module, fx_nodes: list[str], n_inputs: int | None, rule: str = "full"
) -> fx.GraphModule:
    """``model``'s program returning ``(its output, *the values of fx_nodes)``: no hooks, no side
    channel, so it copies, pickles and compiles as any module does. Its modules and attributes are
    the model's own objects, so training updates both. The returned values' gradient into the
    model follows ``rule`` (:func:`split_value`).

    Raises:
        ConfigError: fx cannot trace the model in its current mode, or a node is gone in this mode.
    """
    from .frontends.fx import trace_fx

    try:
        graph, _ = trace_fx(model, n_inputs=n_inputs)
    except TraceError as e:
        raise ConfigError(f"{e}; tap module outputs instead of {', '.join(fx_nodes)}") from None
    nodes = {n.name: n for n in graph.nodes}
    missing = [name for name in fx_nodes if name not in nodes]
    if missing:
        mode = "train" if model.training else "eval"
        raise ConfigError(
            f"tap point {missing[0]!r} is not in the model's {mode}-mode program; "
            "tap a module output instead"
        )
    tapped = [nodes[name] for name in fx_nodes]
    if rule != "full":
        tapped = [_split_node(graph, node, rule) for node in tapped]
    output = next(n for n in graph.nodes if n.op == "output")
    output.args = ((output.args[0], *tapped),)
    owner = {
        n.target: attr_at(model, n.target)
        for n in graph.nodes
        if n.op in ("call_module", "get_attr")
    }
    return fx.GraphModule(owner, graph, class_name=f"Tapped{type(model).__name__}")


def _split_node(graph: fx.Graph, node: fx.Node, rule: str) -> fx.Node:
    """After ``node``: its value split by :func:`split_value`; the model's own uses read the
    first half, and the node returned reads the second (for the head)."""
    with graph.inserting_after(node):
        pair = graph.call_function(split_value, (node, rule))
    with graph.inserting_after(pair):
        own = graph.call_function(operator.getitem, (pair, 0))
    with graph.inserting_after(own):
        head = graph.call_function(operator.getitem, (pair, 1))
    node.replace_all_uses_with(own, delete_user_cb=lambda user: user is not pair)
    return head


def split_value(value: Any, rule: str) -> tuple[Any, Any]:
    """``(value for the model, its first tensor for the head)``: the same values, and the head's
    gradient into the model follows ``rule``, one of :data:`HEAD_GRADIENTS` other than ``full``;
    a value without a tensor that needs a gradient goes to both unchanged."""
    feature = first_tensor(value)
    if feature is None or not feature.requires_grad:
        return value, value
    own, head = _Split.apply(feature, rule)
    return with_first_tensor(value, own), head


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
        points: module paths read by forward hooks, or point names read through the fx rewrite.
        fx_nodes: point name → fx node name, for every point when the fx rewrite reads them.
        layouts: each point's feature layout (``channels_first``, ``channels_last``, ``flat``),
            for losses on the features themselves (``make_loss(..., layouts=tapped.layouts)``).

    ``head_gradient`` (:data:`HEAD_GRADIENTS`, as :func:`attach` sets it) says what each head's
    gradient into the model becomes at its tap, against the gradient coming from deeper in the
    model; ``aux_grad`` scales it before that (the heads themselves learn in full). Hooks live
    only while ``forward`` runs, so a tapped model copies (``copy.deepcopy``, ``AveragedModel``)
    and pickles like any module.
    """

    def __init__(
        self,
        model: nn.Module,
        points: list[str],
        heads: list[nn.Module],
        fx_nodes: dict[str, str] | None = None,
        n_inputs: int | None = None,
        layouts: list[str] | None = None,
        head_gradient: str = "full",
    ):
        super().__init__()
        _check_head_gradient(head_gradient)
        self.model = model
        self.points = list(points)
        self.heads = nn.ModuleDict({head_key(p): h for p, h in zip(points, heads)})
        self.layouts = list(layouts) if layouts is not None else ["channels_first"] * len(points)
        self._fx_nodes = dict(fx_nodes or {})
        self._n_inputs = n_inputs
        self.aux_grad = 1.0
        self.head_gradient = head_gradient
        self._detached = False
        # per training mode, never a registered child; keyed by the model's modules too, because the
        # rewritten program holds the modules it was traced with (convert_sync_batchnorm swaps them)
        self._runners: dict[bool, tuple[tuple[int, ...], fx.GraphModule]] = {}
        self._prepare()  # fail now, not at the first step, when fx cannot rewrite the model

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_runners"] = {}  # programs hold the originals' modules: a copy traces its own
        return state

    def _prepare(self) -> None:
        """Trace the rewrite for both modes now, outside any ``torch.compile`` that calls it."""
        if self._fx_nodes:
            with in_mode(self.model, not self.model.training):
                self._runner()
            self._runner()

    def _runner(self) -> fx.GraphModule:
        mode = self.model.training
        if torch.compiler.is_compiling():
            return self._runners[mode][1]
        key = (self.head_gradient, *map(id, self.model.modules()))
        if self._runners.get(mode, ((),))[0] != key:
            names = [self._fx_nodes[p] for p in self.points]
            program = rewrite_with_outputs(self.model, names, self._n_inputs, self.head_gradient)
            self._runners[mode] = (key, program)
        return self._runners[mode][1]

    def _apply(self, fn, *args, **kwargs):
        self._runners = {}  # buffers may be new tensors now: trace again
        result = super()._apply(fn, *args, **kwargs)
        self._prepare()
        return result

    def _run(self, *args, **kwargs) -> tuple[Any, list]:
        """The model's output and the tapped features, read by the rewrite or by hooks."""
        rule = _check_head_gradient(self.head_gradient)  # a user may have set it since
        if self._fx_nodes:
            out = self._runner()(*args, **kwargs)
            return out[0], [first_tensor(f) for f in out[1:]]
        found: dict[str, torch.Tensor] = {}
        handles = [
            self.model.get_submodule(p).register_forward_hook(Capture(found, p, rule))
            for p in self.points
        ]
        try:
            main = self.model(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        missing = [p for p in self.points if p not in found]
        if missing:
            raise ConfigError(
                f"tap point {missing[0]!r} did not run in this forward pass; "
                "tap modules every forward calls"
            )
        return main, [found[p] for p in self.points]

    def forward(self, *args, **kwargs) -> TapOutput:
        if self._detached:
            raise ConfigError(
                "this tapped model was detached; call the model itself (TappedModel.model), "
                "or attach heads again"
            )
        main, features = self._run(*args, **kwargs)
        aux = [self.head(p)(scaled_grad(f, self.aux_grad)) for p, f in zip(self.points, features)]
        return TapOutput(main, aux, features)

    def detach(self) -> nn.Module:
        """The original model, trained, without its heads (zero inference overhead); this tapped
        model no longer runs."""
        self._detached, self._runners = True, {}
        return self.model

    def head(self, point: str) -> nn.Module:
        """The aux head reading ``point`` (an entry of ``self.points``)."""
        return self.heads[head_key(point)]


def own_unembedding(selection, model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The model's final norm and unembedding: the linear module that makes its main output and
    the norm module feeding it (an identity where there is none).

    Raises:
        ConfigError: the main output is not made by a linear module.
    """
    G, modules = selection.graph, dict(model.named_modules())
    node = (G.graph.get("outputs") or [None])[0]
    while node is not None and info(G, node).op != "linear":
        parents = sorted(G.predecessors(node), key=lambda p: info(G, p).order)
        node = parents[0] if parents else None
    path = next((p for p in (info(G, node).outputs_of if node else ()) if p in modules), None)
    if path is None:
        raise ConfigError(
            "the model's output is made by no linear module to share; use `token_head=new`"
        )
    parents = list(G.predecessors(node))
    before = info(G, parents[0]) if len(parents) == 1 else None
    norm_path = next(
        (p for p in (before.outputs_of if before and before.op == "norm" else ()) if p in modules),
        None,
    )
    return (modules[norm_path] if norm_path else nn.Identity()), modules[path]


def _check_head_gradient(rule: str) -> str:
    if rule not in HEAD_GRADIENTS:
        choices = ", ".join(HEAD_GRADIENTS)
        raise ConfigError(f"`head_gradient` must be one of {choices}, got {rule!r}")
    return rule


HEAD_NORMS = ("auto", "batch", "none")
CAPTURES = ("auto", "hooks", "fx")


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
    head_norm: str = "auto",
    capture: str = "auto",
    token_head: str = "new",
    head_gradient: str = "full",
) -> TappedModel:
    """Build a head for every point of ``selection`` and hook them onto ``model``.

    ``capture``: ``hooks`` (forward hooks on module outputs: any model), ``fx`` (an fx rewrite that
    returns the features: for ``torch.compile(..., fullgraph=True)``), or ``auto`` (hooks where
    every point is a module's output, else the rewrite). ``head_norm``: ``auto`` (map heads
    normalize as the backbone does: BatchNorm where the model normalizes, none in a norm-free net),
    ``batch`` or ``none``. ``task="token"`` predicts at every position of [B, T, C] features (a
    language model's next token); ``token_head="shared"`` reads them through the model's own final
    norm and unembedding (LayerSkip's early exits), ``new`` through a norm and linear of their own.
    ``head_gradient``: what a head's gradient into the model becomes at its tap, per sample:
    ``full`` (the default) as it is, ``yield`` without its part against the gradient the model's
    deeper layers send there (:func:`yielded`), ``balance`` no larger than it (:func:`balanced`).

    Raises:
        ConfigError: a point that is no module's output in a model fx cannot trace (pick module
            outputs with ``points=``), or features the task cannot use.
    """
    if capture not in CAPTURES:
        raise ConfigError(f"`capture` must be one of {', '.join(CAPTURES)}, got {capture!r}")
    modules = dict(model.named_modules())
    G = selection.graph
    norm = _heads_normalize(selection, head_norm)
    if token_head not in ("new", "shared"):
        raise ConfigError(f"`token_head` must be new or shared, got {token_head!r}")
    shared = (
        own_unembedding(selection, model) if task == "token" and token_head == "shared" else None
    )
    paths, heads, fx_nodes, layouts = [], [], {}, []
    for p in selection.points:
        record = info(G, p.name)
        names = (p.name, *record.outputs_of, *record.aliases)
        path = next((q for q in names if q and q in modules), None)
        if path is None or capture == "fx":
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
        heads.append(TokenwiseHead(*shared) if shared else build_adapter(spec))
        layouts.append(layout)
    if capture != "fx" and all(p in modules for p in paths):  # hooks alone: the model's own forward
        fx_nodes = {}
    # else every point is read by the rewrite (in the traced program, containers are not called)
    n_inputs = len(selection.inputs) or None
    return TappedModel(
        model,
        paths,
        heads,
        fx_nodes,
        n_inputs=n_inputs,
        layouts=layouts,
        head_gradient=head_gradient,
    )
