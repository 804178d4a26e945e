"""Cost of deep supervision inside other stacks: the training step of each integration with its
default heads against the same framework without tapfinder, in one run.

Stacks: a plain loop (``AuxHeads``), Lightning (the ``DeepSupervision`` callback), the Hugging Face
``Trainer`` (``DeepSupervisionTrainer`` on a small GPT-2), timm (``DeepSupervisionTask`` vs timm's
``ClassificationTask``) and MONAI (``DeepSupervisionOutputs`` + ``DeepSupervisionLoss`` vs the
plain loss, on MONAI's own UNet). Each stack's two arms run in alternating rounds, so machine load
drifts hit both alike; a step is timed by the framework's own step hooks where it has them (the
first steps of a round are warm-up), and the median step is reported. One thread.

    python benchmarks/integrations.py [--steps 30] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import code_version, print_table, write_results  # noqa: E402

WARMUP = 3
BATCH, SHAPE, CLASSES = 128, (1, 40), 10  # MNIST-1D-sized batches for the classification stacks


def _classifier() -> nn.Module:
    from tapfinder.models import get_model

    torch.manual_seed(0)
    return get_model("resnet1d32")[0]


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(BATCH, *SHAPE, generator=g), torch.randint(0, CLASSES, (BATCH,), generator=g)


def _timed_steps(step, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times[WARMUP:]


def _plain_loop(deep: bool, steps: int) -> list[float]:
    from deepsup.integrations.heads import AuxHeads

    model, (x, y) = _classifier(), _batch()
    heads = AuxHeads(model, x[:2]) if deep else None
    params = [*model.parameters(), *(heads.parameters() if deep else [])]
    optimizer = torch.optim.AdamW(params, 1e-3)
    if deep:
        heads.hook()

    def step():
        out = model(x)
        loss = nn.functional.cross_entropy(out, y)
        if deep:
            loss = loss + heads.extra_loss(out, y)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _timed_steps(step, steps)


def _timm(deep: bool, steps: int) -> list[float]:
    from timm.task import ClassificationTask

    from deepsup.integrations.timm import DeepSupervisionTask

    model, (x, y) = _classifier(), _batch()
    task = (
        DeepSupervisionTask(model, x[:2])
        if deep
        else ClassificationTask(model, nn.CrossEntropyLoss())
    )
    optimizer = torch.optim.AdamW(task.get_trainable_module().parameters(), 1e-3)

    def step():
        loss = task(x, y)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _timed_steps(step, steps)


def _lightning(deep: bool, steps: int) -> list[float]:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from deepsup.integrations.lightning import DeepSupervision

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _classifier()
            self.example_input_array = torch.zeros(2, *SHAPE)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.cross_entropy(self(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), 1e-3)

    class Clock(pl.Callback):
        def __init__(self):
            self.times, self._start = [], 0.0

        def on_train_batch_start(self, *args):
            self._start = time.perf_counter()

        def on_train_batch_end(self, *args):
            self.times.append(time.perf_counter() - self._start)

    x, y = _batch()
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH)
    clock = Clock()
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.Trainer(
            max_steps=steps,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
            callbacks=[clock, *([DeepSupervision()] if deep else [])],
        ).fit(Module(), loader)
    return clock.times[WARMUP:]


def _hf(deep: bool, steps: int) -> list[float]:
    import transformers

    from deepsup.integrations.hf import DeepSupervisionTrainer
    from deepsup.text_data import VOCAB, text_dataset

    class Clock(transformers.TrainerCallback):
        def __init__(self):
            self.times, self._start = [], 0.0

        def on_step_begin(self, *args, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            self.times.append(time.perf_counter() - self._start)

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_embd=64,
        n_layer=4,
        n_head=4,
        vocab_size=len(VOCAB),
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
        use_cache=False,
    )
    train, _ = text_dataset(train=16 * steps, val=1)
    clock = Clock()
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = transformers.TrainingArguments(
            output_dir=root,
            max_steps=steps,
            per_device_train_batch_size=16,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            disable_tqdm=True,
            logging_steps=10**6,
        )
        kind = DeepSupervisionTrainer if deep else transformers.Trainer
        kind(
            model=transformers.GPT2LMHeadModel(config),
            args=args,
            train_dataset=[{"input_ids": x, "labels": x} for x, _ in train],
            callbacks=[clock],
        ).train()
    return clock.times[WARMUP:]


def _monai(deep: bool, steps: int) -> list[float]:
    import monai

    from deepsup.integrations.monai import DeepSupervisionOutputs
    from tapfinder import attach, select_points

    torch.manual_seed(0)
    net = monai.networks.nets.UNet(2, 1, 3, channels=(16, 32, 64, 128), strides=(2, 2, 2))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1, 64, 64, generator=g)
    y = torch.randint(0, 3, (8, 1, 64, 64), generator=g).float()
    dice = monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)
    if deep:
        selection = select_points(net, x[:2])
        net = DeepSupervisionOutputs(attach(net, selection, task="segmentation", num_classes=3))
        loss_fn = monai.losses.DeepSupervisionLoss(dice)
    else:
        loss_fn = dice
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3)
    net.train()

    def step():
        loss = loss_fn(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _timed_steps(step, steps)


STACKS = {
    "plain loop": _plain_loop,
    "lightning": _lightning,
    "hf Trainer": _hf,
    "timm task": _timm,
    "monai": _monai,
}


def _measure(name: str, run, steps: int, rounds: int) -> dict:
    times = {False: [], True: []}
    for _ in range(rounds):
        for deep in (False, True):
            times[deep] += run(deep, steps)
    plain, deep = statistics.median(times[False]), statistics.median(times[True])
    return dict(stack=name, plain_step_s=plain, deep_step_s=deep, ratio=deep / plain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [
        _measure(name, STACKS[name], args.steps, args.rounds) for name in args.stacks.split(",")
    ]
    print_table(
        "training step with default heads vs the same framework without tapfinder (1 thread)",
        ["stack", "without (s)", "with heads (s)", "ratio (≤ 1.3)"],
        [
            [
                r["stack"],
                f"{r['plain_step_s']:.4f}",
                f"{r['deep_step_s']:.4f}",
                f"{r['ratio']:.2f}×",
            ]
            for r in rows
        ],
    )
    write_results(
        "integrations",
        dict(steps=args.steps, rounds=args.rounds, **code_version(), rows=rows),
    )


if __name__ == "__main__":
    main()
