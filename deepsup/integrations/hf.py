"""Hugging Face ``Trainer``: deep supervision through its documented ``compute_loss`` override.

``DeepSupervisionTrainer(model=..., args=..., train_dataset=..., deep_supervision=dict(...))`` is a
``transformers.Trainer`` whose loss adds the heads' to the model's own (a causal LM's heads
predict the next token at every position). The heads live outside the ``PreTrainedModel``, so
``save_pretrained`` writes the model alone; the optimizer trains them, checkpoints keep them
(``deepsup_heads.pt``) so ``resume_from_checkpoint`` continues, and each term is logged as
``deepsup/<term>``.
"""

from __future__ import annotations

import os

import torch
import transformers

from .heads import AuxHeads

__all__ = ["DeepSupervisionTrainer"]

_HEADS_FILE = "deepsup_heads.pt"


def _causal(model) -> bool:
    return type(model).__name__.endswith(("LMHeadModel", "ForCausalLM"))


class DeepSupervisionTrainer(transformers.Trainer):
    """A ``transformers.Trainer`` with deep supervision; ``deep_supervision`` holds the options of
    :class:`~deepsup.integrations.heads.AuxHeads` (``points``, ``recipe``, loss options)."""

    def __init__(self, *args, deep_supervision: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        options = dict(deep_supervision or {})
        example = self._example_input_ids()
        options.setdefault("task", "token" if _causal(self.model) else "classification")
        self.deepsup = AuxHeads(self.model, example, **options).to(self.args.device)
        self.deepsup.hook()
        self._terms: dict[str, list[float]] = {}

    def _example_input_ids(self) -> torch.Tensor:
        batch = self.data_collator([self.train_dataset[i] for i in range(2)])
        return batch["input_ids"].to(self.model.device)

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        heads = [p for p in self.deepsup.parameters() if id(p) not in known]
        if heads:
            optimizer.add_param_group({"params": heads, "weight_decay": self.args.weight_decay})
        return optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.get("labels")
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[1]
        progress = self.state.global_step / max(self.state.max_steps, 1)
        if labels is not None and model.training:
            tapped = self.deepsup.outputs(logits)
            if self.deepsup.loss.task == "token":  # position t predicts token t + 1, as the model's
                aux = [a[:, :-1] for a in tapped.aux]
                tapped, labels = tapped._replace(main=tapped.main[:, :-1], aux=aux), labels[:, 1:]
            extra, terms = self.deepsup.loss.extra(tapped, labels, progress)
            loss = loss + extra
            for name, value in terms.items():
                self._terms.setdefault(name, []).append(float(value))
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict, *args, **kwargs) -> None:
        for name, values in self._terms.items():
            logs[f"deepsup/{name}"] = sum(values) / len(values)
        self._terms = {}
        super().log(logs, *args, **kwargs)

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        folder = os.path.join(
            self._get_output_dir(trial=trial),
            f"{transformers.trainer_utils.PREFIX_CHECKPOINT_DIR}-{self.state.global_step}",
        )
        if self.args.should_save and os.path.isdir(folder):
            torch.save(self.deepsup.state_dict(), os.path.join(folder, _HEADS_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, _HEADS_FILE)
        if os.path.isfile(path):
            self.deepsup.load_state_dict(torch.load(path, map_location=self.args.device))
