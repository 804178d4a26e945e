"""The Hugging Face Trainer: the loss adds per-token heads' terms, each is logged, save_pretrained
writes the model alone (it loads strictly into a fresh one), and a resume reloads the heads."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from deepsup.integrations.hf import DeepSupervisionTrainer  # noqa: E402
from deepsup.text_data import VOCAB, text_dataset  # noqa: E402


def _model():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_embd=32,
        n_layer=4,
        n_head=4,
        vocab_size=len(VOCAB),
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
        use_cache=False,
    )
    return transformers.GPT2LMHeadModel(config)


def _dataset(n=32):
    train, _ = text_dataset(train=n, val=1)
    return [{"input_ids": x, "labels": x} for x, _ in train]


def _args(tmp_path, steps):
    return transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=steps,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_steps=2,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )


def test_hf_trainer_trains_logs_and_saves_the_model_alone(tmp_path):
    model = _model()
    trainer = DeepSupervisionTrainer(model=model, args=_args(tmp_path, 4), train_dataset=_dataset())
    assert trainer.deepsup.loss.task == "token"
    assert trainer.deepsup.loss.config.recipe == "dsn"  # the per-token default: docs/recipes.md
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "deepsup/aux0" in entry]
    assert logged and {"deepsup/main", "deepsup/aux1"} <= set(logged[-1])
    assert (
        logged[-1]["loss"] > logged[-1]["deepsup/main"]
    )  # the aux terms joined the model's own loss
    trainer.save_model(str(tmp_path / "saved"))
    fresh = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path / "saved"))
    assert set(fresh.state_dict()) == set(_model().state_dict())
    resumed = DeepSupervisionTrainer(
        model=_model(), args=_args(tmp_path, 6), train_dataset=_dataset()
    )
    saved = torch.load(tmp_path / "out" / "checkpoint-4" / "deepsup_heads.pt")
    resumed.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-4"))
    assert resumed.state.global_step == 6 and set(saved) == set(resumed.deepsup.state_dict())
