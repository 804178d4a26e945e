"""Taps: attach a selection's heads to the live model, and take them off again exactly.

``attach`` wraps the model in a :class:`TappedModel` that owns the adapters (register it before DDP
or ``torch.compile``: hooks added after compiling are silently ignored). Forward hooks on the tapped
modules copy their outputs to a side channel; the model's own forward and return value are
untouched. ``TappedModel.forward`` returns a :class:`TapOutput` (main output, aux logits, tapped
features) so DDP sees every head's output. ``tapped.model`` is always the original module: its
``state_dict`` loads with ``strict=True`` into a freshly built original.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .adapters import AdapterSpec, build_adapter, main_head_input
from .errors import ConfigError
from .graph_builder import first_tensor

__all__ = ["TapOutput", "TappedModel", "attach"]


class TapOutput(NamedTuple):
    main: Any              # whatever the model returns
    aux: list              # one logits tensor per tap point, in depth order
    features: list         # the tapped features themselves (for feature regularisers)


def _head_key(name: str) -> str:
    return name.replace(".", "__").replace("[", "_").replace("]", "_")


class TappedModel(nn.Module):
    """The original model plus one head per tap point; see the module docstring."""

    def __init__(self, model: nn.Module, points: list[str], heads: list[nn.Module]):
        super().__init__()
        self.model = model
        self.points = list(points)
        self.heads = nn.ModuleDict({_head_key(p): h for p, h in zip(points, heads)})
        self._features: dict[str, torch.Tensor] = {}
        self._handles = [model.get_submodule(p).register_forward_hook(self._hook(p)) for p in points]

    def _hook(self, point: str):
        def store(module, args, out):
            self._features[point] = first_tensor(out)
        return store

    def forward(self, *args, **kwargs) -> TapOutput:
        self._features = {}
        main = self.model(*args, **kwargs)
        features = [self._features[p] for p in self.points]
        self._features = {}
        aux = [self.head(p)(f) for p, f in zip(self.points, features)]
        return TapOutput(main, aux, features)

    def detach(self) -> nn.Module:
        """Remove the hooks and return the original model (heads dropped: zero inference overhead)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        return self.model

    def head(self, point: str) -> nn.Module:
        """The aux head reading ``point`` (a module path from ``self.points``)."""
        return self.heads[_head_key(point)]


def attach(model: nn.Module, selection, task: str = "classification", num_classes: int = 10,
           adapter: str = "dks") -> TappedModel:
    """Build a head for every point of ``selection`` and hook them onto ``model``.

    Raises:
        ConfigError: a point that is not a module's output (pick module outputs with ``points=``), or
            features the task cannot use.
    """
    modules = dict(model.named_modules())
    G = selection.graph
    paths, heads = [], []
    for p in selection.points:
        info = G.nodes[p.name]["tf"]
        path = next((q for q in (p.name, *info.get("outputs_of", ()), *info.get("aliases", ())) if q in modules and q),
                    None)
        if path is None:
            raise ConfigError(f"tap point {p.name!r} is not the output of a module; choose module outputs "
                              f"(for example {', '.join(c.name for c in selection.candidates if c.eligible and c.name in modules)[:120]})")
        layout = info.get("layout") or "flat"
        main = main_head_input(G, layout) or tuple(p.shape)
        spec = AdapterSpec(tuple(p.shape), layout, main, task, num_classes, adapter,
                           cls_token=False)
        paths.append(path)
        heads.append(build_adapter(spec))
    return TappedModel(model, paths, heads)
