"""Heads on a model a framework owns: chosen, built and fed by hooks while they are on, and the
loss they add to the framework's own (the core the integrations share)."""

from __future__ import annotations

import torch
from torch import nn

from tapfinder import ConfigError, attach, select_points
from tapfinder.taps import Capture, TapOutput, head_key

from ..losses import main_logits, make_loss, resolve_recipe

__all__ = ["AuxHeads"]


class AuxHeads(nn.Module):
    """One head per tap point of ``model``; :meth:`hooked` feeds them while the model runs.

    Args:
        model: the user's model; it is hooked, never wrapped or changed.
        example_inputs: a batch input the model takes (a tensor, or a tuple of its arguments).
        points, recipe, task, num_classes, adapter, head_norm: as for ``select_points``,
            ``attach`` and ``make_loss`` (``num_classes`` defaults to the model's output width).
        loss_options: the recipe's options (``alpha``, ``beta``, ...).
    """

    def __init__(
        self,
        model: nn.Module,
        example_inputs,
        points="auto",
        recipe: str = "auto",
        task: str = "classification",
        num_classes: int | None = None,
        adapter: str = "dks",
        head_norm: str = "auto",
        **loss_options,
    ):
        super().__init__()
        inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
        selection = select_points(model, inputs, points=points)
        if not selection.points:
            raise ConfigError(
                f"no point of {type(model).__name__} can carry a head "
                f"({'; '.join(selection.notes) or 'no candidate'}); name `points`"
            )
        if num_classes is None:
            with torch.no_grad():
                out = main_logits(model(*inputs))
            num_classes = out.shape[-1] if task == "token" else out.shape[1]
        tapped = attach(
            model,
            selection,
            task=task,
            num_classes=num_classes,
            adapter=adapter,
            head_norm=head_norm,
            capture="hooks",
        )
        if tapped._fx_nodes:
            raise ConfigError(
                "the points must be module outputs to be hooked inside a framework; "
                f"choose module outputs with `points` (not {', '.join(tapped.points)})"
            )
        self.heads, self.points, self.layouts = tapped.heads, tapped.points, tapped.layouts
        self.head_gradient = tapped.head_gradient  # as TappedModel.head_gradient
        self.selection = selection
        recipe = resolve_recipe(recipe, task)
        self.loss = make_loss(recipe, layouts=self.layouts, task=task, **loss_options)
        self._model = [model]  # not a submodule: the heads' state is the heads' own
        self._found: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def hook(self) -> None:
        """Start reading the tap points on every forward of the model."""
        if not self._handles:
            model = self._model[0]
            self._handles = [
                model.get_submodule(p).register_forward_hook(
                    Capture(self._found, p, self.head_gradient)
                )
                for p in self.points
            ]

    def unhook(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._found = [], {}

    def outputs(self, main) -> TapOutput:
        """The last forward's main output with the heads' logits and the features they read."""
        missing = [p for p in self.points if p not in self._found]
        if missing:
            raise ConfigError(
                f"tap point {missing[0]!r} did not run in the last forward; call hook() "
                "before the model runs"
            )
        features = [self._found[p] for p in self.points]
        aux = [self.heads[head_key(p)](f) for p, f in zip(self.points, features)]
        return TapOutput(main, aux, features)

    def extra_loss(self, main, target: torch.Tensor, progress: float = 0.0):
        """``(what deep supervision adds to the main loss, every term detached)`` for the last
        forward, whose main prediction is ``main``."""
        return self.loss.extra(self.outputs(main), target, progress)
