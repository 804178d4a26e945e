"""timm: a ``timm.task.TrainingTask`` that trains a model with deep supervision.

``DeepSupervisionTask(model, example_input)`` computes the recipe's loss in its ``forward(input,
target)`` and returns ``{"loss", "output", "loss_<term>"...}`` as timm's tasks do. Its
``trainable_module`` holds the model and the heads (a :class:`~tapfinder.taps.TappedModel`), so
timm's optimizer, EMA and DDP helpers see both; ``state_dict_for_inference()`` is the model alone.
"""

from __future__ import annotations

import torch
from timm.task import TrainingTask
from torch import nn

from tapfinder import attach, select_points

from ..losses import make_loss, resolve_recipe

__all__ = ["DeepSupervisionTask"]


def _unwrapped(module: nn.Module) -> nn.Module:
    while hasattr(module, "module") or hasattr(module, "_orig_mod"):  # DDP, torch.compile
        module = getattr(module, "module", None) or module._orig_mod
    return module


class DeepSupervisionTask(TrainingTask):
    """Deep supervision of ``model`` as a timm training task.

    Args:
        example_input: a batch the model takes, for the analysis.
        points, recipe, num_classes, adapter, head_norm: as for ``select_points``, ``attach`` and
            ``make_loss`` (``num_classes``: the model's output width by default).
        loss_options: the recipe's options. ``progress`` (0 → 1 over training) may be set for
            weights that decay.
    """

    def __init__(
        self,
        model: nn.Module,
        example_input: torch.Tensor,
        points="auto",
        recipe: str = "auto",
        num_classes: int | None = None,
        adapter: str = "dks",
        head_norm: str = "auto",
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        verbose: bool = False,
        **loss_options,
    ):
        super().__init__(device=device, dtype=dtype, verbose=verbose)
        if num_classes is None:
            with torch.no_grad():
                num_classes = model(example_input).shape[1]
        selection = select_points(model, example_input, points=points)
        self.trainable_module = attach(
            model, selection, num_classes=num_classes, adapter=adapter, head_norm=head_norm
        )
        recipe = resolve_recipe(recipe, "classification")
        self.loss = make_loss(recipe, layouts=self.trainable_module.layouts, **loss_options)
        self.progress = 0.0

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> dict:
        out = self.trainable_module(input)
        total, terms = self.loss(out, target, self.progress)
        return {"loss": total, "output": out.main, **{f"loss_{k}": v for k, v in terms.items()}}

    def get_eval_model(self, module: nn.Module | None = None, ema: bool = False) -> nn.Module:
        """The model alone: validation runs without heads."""
        tapped = module if module is not None else self.get_trainable_module(ema=ema)
        return _unwrapped(tapped).model if tapped is not None else None

    def state_dict_for_inference(self) -> dict:
        """The trained model's own state_dict (it loads strictly into a fresh model)."""
        return _unwrapped(self.trainable_module).model.state_dict()

    def prepare_distributed(
        self, device_ids: list | None = None, **ddp_kwargs
    ) -> "DeepSupervisionTask":
        """The model and its heads under DistributedDataParallel (every head is used every step)."""
        self.trainable_module = nn.parallel.DistributedDataParallel(
            self.trainable_module, device_ids=device_ids, **ddp_kwargs
        )
        return self
