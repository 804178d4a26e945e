"""PyTorch Lightning: deep supervision as a ``Callback``, the user's ``training_step`` unchanged.

``Trainer(callbacks=[DeepSupervision()])``: at ``setup`` the heads are chosen and registered in the
LightningModule (so ``configure_optimizers`` over ``self.parameters()`` trains them, checkpoints
keep them and DDP syncs them); each training step adds their loss to the step's own and logs every
term as ``deepsup/<term>``; at the end of ``fit`` they come off again, so the module's
``state_dict()`` holds the user's model alone.
"""

from __future__ import annotations

from typing import Callable

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from tapfinder import ConfigError

from ..losses import main_logits
from .heads import AuxHeads

__all__ = ["DeepSupervision"]

_HEADS = "deepsup_heads"


def _second(batch):
    return batch[1]


class DeepSupervision(Callback):
    """Deep supervision at automatically chosen points of a LightningModule's model.

    Args:
        points: ``"auto"``, a count or node names.
        recipe: ``auto`` (the task's default, as for ``tapfinder train``), ``dks``, ``dsn`` or
            ``imachsr``; ``loss_options`` its options.
        model_attr: the LightningModule attribute holding the network (default: the module's one
            child, or the LightningModule itself).
        example_input: a batch input for the analysis (default: ``example_input_array``).
        target: picks the target out of a batch (default: ``batch[1]``).
        task, num_classes, adapter, head_norm: as for :class:`~deepsup.integrations.heads.AuxHeads`.
    """

    def __init__(
        self,
        points="auto",
        recipe: str = "auto",
        model_attr: str | None = None,
        example_input=None,
        target: Callable = _second,
        task: str = "classification",
        num_classes: int | None = None,
        adapter: str = "dks",
        head_norm: str = "auto",
        **loss_options,
    ):
        self.points, self.recipe, self.model_attr = points, recipe, model_attr
        self.example_input, self.target, self.task = example_input, target, task
        self.options = dict(
            num_classes=num_classes, adapter=adapter, head_norm=head_norm, **loss_options
        )
        self.heads: AuxHeads | None = None

    def _network(self, pl_module):
        if self.model_attr:
            return getattr(pl_module, self.model_attr)
        children = list(pl_module.children())
        return children[0] if len(children) == 1 else pl_module

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.heads is not None:
            return
        example = (
            self.example_input if self.example_input is not None else pl_module.example_input_array
        )
        if example is None:
            raise ConfigError(
                "DeepSupervision needs an example batch input: set the module's "
                "example_input_array or pass example_input="
            )
        network = self._network(pl_module)
        self.heads = AuxHeads(network, example, self.points, self.recipe, self.task, **self.options)
        pl_module.add_module(_HEADS, self.heads)
        self.heads.hook()
        self._wrap_training_step(trainer, pl_module, network)

    def _wrap_training_step(self, trainer, pl_module, network) -> None:
        step = pl_module.training_step
        last = {}
        handle = network.register_forward_hook(
            lambda module, args, out: last.__setitem__("out", out)
        )
        self._last_output = handle
        heads = self.heads

        def training_step(batch, batch_idx, *args, **kwargs):
            last.clear()
            result = step(batch, batch_idx, *args, **kwargs)
            loss = result["loss"] if isinstance(result, dict) else result
            progress = trainer.global_step / max(trainer.estimated_stepping_batches, 1)
            extra, terms = heads.extra_loss(main_logits(last["out"]), self.target(batch), progress)
            for name, value in terms.items():
                pl_module.log(f"deepsup/{name}", value, on_step=True, on_epoch=True)
            total = loss + extra
            return {**result, "loss": total} if isinstance(result, dict) else total

        pl_module.training_step = training_step

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trained = {
            id(p) for opt in trainer.optimizers for g in opt.param_groups for p in g["params"]
        }
        if self.heads is not None and not all(id(p) in trained for p in self.heads.parameters()):
            raise ConfigError(
                "configure_optimizers must optimize self.parameters() (the heads are "
                f"registered there as {_HEADS}), not only the network's"
            )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.heads is None:
            return
        self.heads.unhook()
        self._last_output.remove()
        pl_module.__dict__.pop("training_step", None)  # the class's own step again
        pl_module._modules.pop(_HEADS, None)
        self.heads = None
