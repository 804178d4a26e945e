"""The training loop: ``train_one_epoch``, ``evaluate``, ``fit``; checkpoints every epoch; exact
resume.

Checkpoints hold fixed keys (``model``, ``aux_heads``, ``optimizer``, ``lr_scheduler``,
``aux_optimizer`` and ``aux_lr_scheduler`` (None but under ``aux_state="own"`` with aux terms),
``scaler``, ``epoch``, ``config``, ``rng``) and are written to ``last.pt`` (and to ``best.pt``
when the main head's validation score is the best so far) through a temporary file and
``os.replace``, so a killed run never leaves a torn checkpoint. Shuffling is seeded per epoch and
the RNG state is saved, so ``resume`` continues exactly where an uninterrupted run would be. A
non-finite loss stops training with a clear message and the last good checkpoint intact. Under
``torchrun`` the same code runs with DDP (see :mod:`deepsup.distributed`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torch.utils._pytree import tree_map
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tapfinder.errors import ConfigError, TapfinderError
from tapfinder.taps import HEAD_GRADIENTS

from . import distributed
from .guard import main_head_warning
from .logs import make_logs
from .losses import main_logits
from .metrics import Meter, accuracy, confusion, main_score_key, miou

__all__ = ["TrainConfig", "Trainer", "TrainingError"]


class TrainingError(TapfinderError):
    """Training cannot go on (a non-finite loss, a checkpoint that does not fit)."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "onecycle"  # onecycle | cosine | step | none
    step_size: int = 10
    clip_grad: float = 1.0  # max grad norm (0: off); evidence: docs/recipes.md, "Gradient clipping"
    amp: bool = False  # mixed precision where the device supports it
    seed: int = 0
    workers: int = 0
    sync_bn: bool = True  # under torchrun on CUDA: BatchNorm statistics over all processes
    compile: bool = False  # run the (tapped, DDP-wrapped) model through torch.compile
    limit_batches: int = 0  # at most this many batches per epoch, train and val (0: all)
    log: str = ""  # also write csv, tensorboard (comma-separated) beside metrics.jsonl
    # "own": the aux terms' gradients step through an optimizer state of their own, so they do not
    # enter the main loss's moment estimates ("shared": one state for the summed loss); evidence:
    # docs/recipes.md, "An optimizer state of their own ..."
    aux_state: str = "own"

    def __post_init__(self):
        for name, choices in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("aux_state", AUX_STATES),
        ):
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"unknown `{name}` {getattr(self, name)!r}; use {', '.join(choices)}"
                )
        for name in ("epochs", "batch_size", "step_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        for name in ("weight_decay", "clip_grad", "momentum", "workers", "limit_batches"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"`{name}` must be 0 or more, got {getattr(self, name)}")
        make_logs(self.log, None)  # the names are known
        if not self.lr > 0:
            raise ConfigError(f"the learning rate `lr` must be above 0, got {self.lr}")


OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "step", "none")
AUX_STATES = ("shared", "own")
# settings a checkpoint written before they existed was trained with
SAVED_BEFORE = {"aux_state": "shared"}
# settings that may change between a run and its resume: they do not change the result
FREE_ON_RESUME = ("workers", "compile", "log")
# schedules whose learning rate at a step does not depend on the number of epochs: runs with them
# can be extended (a one-cycle or cosine schedule is laid out over the epochs first asked for)
EXTENDABLE_SCHEDULES = ("none", "step")


def adds_aux_terms(loss) -> bool:
    """Whether ``loss`` can be split into the main head's loss and aux terms (``parts``) and has
    any: only then does ``aux_state="own"`` build a second optimizer."""
    return (
        hasattr(loss, "parts")
        and getattr(loss, "config", None) is not None
        and loss.config.recipe != "baseline"
    )


def check_head_gradient(cfg: TrainConfig, head_gradient: str) -> None:
    """Refuse heads that yield to, or are bounded by, the model's own gradient at their taps
    (``head_gradient`` other than ``full``) under ``aux_state="own"``: there the aux terms'
    gradient is taken in a pass without the main loss, so a head would read only the deeper
    heads' gradient, not the main head's. An unknown rule is left to
    :func:`tapfinder.taps.attach` to refuse."""
    if cfg.aux_state == "own" and head_gradient in HEAD_GRADIENTS and head_gradient != "full":
        raise ConfigError(
            f"`head_gradient={head_gradient}` reads the main loss's gradient at each tap, which "
            "the aux terms' own optimizer state (`aux_state=own`, the default) takes apart from "
            "it; pass `aux_state=shared` with it"
        )


def extension_refused(saved: dict, cfg: TrainConfig, done: int, decays: bool = False) -> str | None:
    """Why a run trained with ``saved`` settings (``done`` epochs of them) cannot go on to
    ``cfg.epochs``, or None when it can (the same epochs, or a schedule that does not depend on
    them).

    >>> constant = {"epochs": 2, "schedule": "none"}
    >>> extension_refused(constant, TrainConfig(epochs=4, schedule="none"), 2)
    >>> print(extension_refused({"epochs": 2, "schedule": "onecycle"}, TrainConfig(epochs=4), 2))
    its onecycle schedule is laid out over 2 epochs; only runs with `schedule` none or step can ...
    """
    if saved.get("epochs", cfg.epochs) == cfg.epochs:
        return None
    if cfg.epochs < done:
        return f"it has trained {done} epochs already; ask for as many or more `epochs`"
    if saved.get("schedule") not in EXTENDABLE_SCHEDULES:
        return (
            f"its {saved.get('schedule')} schedule is laid out over {saved.get('epochs')} epochs; "
            f"only runs with `schedule` {' or '.join(EXTENDABLE_SCHEDULES)} can be extended"
        )
    if decays:
        return f"its aux weight decays over {saved.get('epochs')} epochs (`alpha_decay`)"
    return None


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True
        )
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, opt, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total, 1))
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1))
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            opt, step_size=cfg.step_size * steps_per_epoch, gamma=0.1
        )
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def to_device(x, device: torch.device):
    """``x`` (a tensor, or a tuple or dict of them) on ``device``."""
    return tree_map(lambda t: t.to(device) if isinstance(t, torch.Tensor) else t, x)


def call_model(model, x):
    """``model`` on a batch input: a tuple or list is spread over the arguments (``model(a, b)``),
    a tensor or a dict passed as one."""
    return model(*x) if isinstance(x, (tuple, list)) else model(x)


def _token_ce(logits: torch.Tensor, target: torch.Tensor) -> float:
    return float(torch.nn.functional.cross_entropy(logits.float(), target))


def _decays(loss) -> bool:
    """Whether ``loss`` changes with training progress (an aux weight decayed over the epochs)."""
    return bool(getattr(getattr(loss, "config", None), "alpha_decay", False))


class Trainer:
    """Trains ``model`` (a plain module or a :class:`tapfinder.taps.TappedModel`) with ``loss``."""

    def __init__(
        self,
        model: nn.Module,
        loss,
        train: Dataset,
        val: Dataset,
        config: TrainConfig,
        out: str | Path | None = None,
        task: str = "classification",
        num_classes: int = 10,
        device: str | torch.device = "cpu",
        extra: dict | None = None,
        on_epoch=None,
        on_step=None,
        checked: bool = False,
    ):
        self.model, self.loss, self.cfg, self.task, self.num_classes = (
            model,
            loss,
            config,
            task,
            num_classes,
        )
        self.device = torch.device(device)
        if (
            self.device.type == "cuda" and self.device.index is None
        ):  # DDP and the RNG state need the index
            self.device = distributed.process_device("cuda")
        self.out = Path(out) if out else None
        self.extra = extra or {}
        self._writers = None  # csv and TensorBoard writers, made at the first row
        self.on_epoch, self.on_step = on_epoch, on_step
        self.checked = checked  # the baseline check compares this run afterwards (the guard says)
        torch.manual_seed(config.seed)
        self.rank, self.world = distributed.setup(self.device)
        self.model = distributed.wrap(self.model.to(self.device), self.device, config.sync_bn)
        # what runs the steps: the model itself, or compiled (after attach and DDP, as both need)
        self.net = torch.compile(self.model) if config.compile else self.model
        self.train_set, self.val_set = train, val
        # one shuffling for one process or many: the global batch at step k is the same chunk of the
        # epoch's permutation either way, so torchrun reproduces the single-process run
        self.sampler = DistributedSampler(
            train, self.world, self.rank, shuffle=True, seed=config.seed
        )
        self.train_loader = DataLoader(
            train,
            max(config.batch_size // self.world, 1),
            sampler=self.sampler,
            num_workers=config.workers,
        )
        val_sampler = (
            DistributedSampler(val, self.world, self.rank, shuffle=False)
            if self.world > 1
            else None
        )
        self.val_loader = DataLoader(
            val, max(config.batch_size, 256), sampler=val_sampler, num_workers=config.workers
        )
        self.optimizer = _optimizer(config, self.model.parameters())
        self.scheduler = _scheduler(config, self.optimizer, self.steps_per_epoch)
        self.aux_optimizer = self.aux_scheduler = None
        if adds_aux_terms(loss):
            tapped = getattr(self.model, "module", self.model)  # DDP
            check_head_gradient(config, getattr(tapped, "head_gradient", "full"))
            if config.aux_state == "own":  # weight decay: the main's only
                self.aux_optimizer = _optimizer(
                    replace(config, weight_decay=0.0), self.model.parameters()
                )
                self.aux_scheduler = _scheduler(config, self.aux_optimizer, self.steps_per_epoch)
        # under DDP with two optimizers the trainer averages the gradients (backward does not)
        self.syncs_itself = self.aux_optimizer is not None and hasattr(self.model, "no_sync")
        amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp)
        self.autocast = torch.autocast(self.device.type, enabled=amp)
        self.epoch = 0
        self.history: list[dict] = []

    @property
    def steps_per_epoch(self) -> int:
        steps = len(self.train_loader)
        return min(steps, self.cfg.limit_batches) if self.cfg.limit_batches else steps

    def _batches(self, loader):
        """The loader's batches, at most ``limit_batches`` of them."""
        for i, batch in enumerate(loader):
            if self.cfg.limit_batches and i >= self.cfg.limit_batches:
                return
            yield batch

    def _non_finite(self, value: float, step: int) -> TrainingError:
        saved = self.out is not None and (self.out / "last.pt").is_file()
        kept = (
            f"the checkpoint of epoch {self.epoch} is kept in {self.out}"
            if saved
            else "no checkpoint was written"
        )
        clip = (
            f"the gradient clip `clip_grad` ({self.cfg.clip_grad:g})"
            if self.cfg.clip_grad
            else "clip gradients with `clip_grad`"
        )
        return TrainingError(
            f"the loss became {value} at epoch {self.epoch + 1}, step {step + 1} ({kept}); "
            f"lower the learning rate `lr` or {clip}"
        )

    # ---------------------------------------------------------------- loop
    def train_one_epoch(self) -> dict:
        self.model.train()
        self.sampler.set_epoch(self.epoch)  # shuffling depends on the seed and the epoch only
        meter, steps = Meter(), self.steps_per_epoch
        with self._keeping_buffers():
            self._train_steps(meter, steps)
        return meter.reduced()

    def _train_steps(self, meter: Meter, steps: int) -> None:
        """One epoch's steps, their losses added to ``meter``."""
        for step, (x, y) in enumerate(self._batches(self.train_loader)):
            x, y = to_device(x, self.device), y.to(self.device)
            progress = (self.epoch * steps + step) / max(self.cfg.epochs * steps, 1)
            with self.autocast, self._apart():
                out = call_model(self.net, x)
                main, extra, terms = self._losses(out, y, progress)
            total = main if extra is None else main + extra
            if distributed.any_true(not math.isfinite(float(total.detach()))):
                raise self._non_finite(float(total.detach()), step)
            if extra is None or self.aux_optimizer is None:
                self._step(total)
            else:
                self._step_apart(main, extra)
            meter.add(
                {
                    "loss": float(total.detach()),
                    **{f"loss_{k}": float(v.detach()) for k, v in terms.items()},
                },
                len(y),
            )
            if self.on_step and self.rank == 0:
                self.on_step(self.epoch, step + 1, steps, float(total.detach()))

    def _losses(self, out, y, progress: float):
        """``(main, extra, terms)``: the loss split for ``aux_state="own"`` (``extra`` None when
        it adds nothing), else ``(total, None, terms)``."""
        if self.aux_optimizer is not None and hasattr(self.loss, "parts"):
            return self.loss.parts(out, y, progress=progress)
        total, terms = self.loss(out, y, progress=progress)
        return total, None, terms

    def _apart(self):
        """Under DDP with ``aux_state="own"``: no gradient sync in backward (the two gradients are
        taken apart and averaged over the processes by :meth:`_step_apart`)."""
        return self.model.no_sync() if self.syncs_itself else nullcontext()

    def _keeping_buffers(self):
        """Compiled, with ``aux_state="own"``: compile the backward without donated buffers, which
        would forbid taking the two gradients of one graph (:meth:`_step_apart` retains it). Held
        around the whole steps: torch.compile compiles (and recompiles) the forward in a step and
        the backward lazily, at its first call."""
        import torch._functorch.config as functorch_config

        donates = hasattr(functorch_config, "donated_buffer")
        if self.cfg.compile and self.aux_optimizer is not None and donates:
            return functorch_config.patch(donated_buffer=False)
        return nullcontext()

    def _step(self, total: torch.Tensor) -> None:
        """One step of the one optimizer on ``total``'s gradients, clipped."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.syncs_itself:
            distributed.average_gradients([p.grad for p in self.model.parameters()])
        self._clipped_step(self.optimizer, self.model.parameters())
        self.scaler.update()
        self.scheduler.step()

    def _clipped_step(self, opt, params) -> None:
        """``opt``'s step on the gradients in ``params``, their norm clipped to ``clip_grad``."""
        if self.cfg.clip_grad > 0:
            self.scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(params, self.cfg.clip_grad)
        self.scaler.step(opt)

    def _step_apart(self, main: torch.Tensor, extra: torch.Tensor) -> None:
        """One step where the main loss's gradients and the aux terms' move the weights through
        optimizer states of their own (``aux_state="own"``), each clipped on its own. Both
        gradients are taken before either optimizer steps (the graph reads the weights)."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        grads = [
            torch.autograd.grad(
                self.scaler.scale(loss), params, retain_graph=True, allow_unused=True
            )
            for loss in (main, extra)
        ]
        for each in grads:
            distributed.average_gradients(each)
        for each, opt, sched in zip(
            grads, (self.optimizer, self.aux_optimizer), (self.scheduler, self.aux_scheduler)
        ):
            for p, g in zip(params, each):
                p.grad = g
            self._clipped_step(opt, params)
            sched.step()
        self.scaler.update()
        for p in params:
            p.grad = None

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.model.eval()
        meter, confs = Meter(), {}
        for x, y in self._batches(self.val_loader):
            x, y = to_device(x, self.device), y.to(self.device)
            out = call_model(self.net, x)
            heads = {"main": main_logits(out)}
            heads.update({f"aux{i}": a for i, a in enumerate(getattr(out, "aux", []) or [])})
            if self.task == "token":  # token accuracy and cross-entropy (log perplexity) per head
                meter.add(
                    {
                        f"{m}_{k}": f(v.transpose(1, 2), y)
                        for k, v in heads.items()
                        for m, f in (("acc", accuracy), ("ce", _token_ce))
                    },
                    int((y != -100).sum()),
                )
            elif self.task == "segmentation":
                confs = {
                    k: confusion(v, y, self.num_classes, confs.get(k)) for k, v in heads.items()
                }
            else:
                meter.add({f"acc_{k}": accuracy(v, y) for k, v in heads.items()}, len(y))
        if self.task == "segmentation":  # val_miou is the main head's; val_miou_auxN an aux head's
            if distributed.joined():
                for conf in confs.values():
                    torch.distributed.all_reduce(conf)
            return {
                ("miou" if k == "main" else f"miou_{k}"): miou(conf) for k, conf in confs.items()
            }
        return meter.reduced()

    def fit(self, resume: bool = False) -> list[dict]:
        if resume:
            self.load_checkpoint()
        while self.epoch < self.cfg.epochs:
            start = time.perf_counter()
            train = self.train_one_epoch()
            val = self.evaluate()
            self.epoch += 1
            row = {
                "epoch": self.epoch,
                **train,
                **{f"val_{k}": v for k, v in val.items()},
                "lr": self.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - start, 3),
            }
            own = self.aux_optimizer is not None
            warning = main_head_warning(
                row, self.num_classes, self.task, own_state=own, checked=self.checked
            )
            if warning:
                row["guard"] = warning
            self.history.append(row)
            self.save_checkpoint()
            self._log(row)
            if self.on_epoch and self.rank == 0:
                self.on_epoch(row)
        return self.history

    # ---------------------------------------------------------------- checkpoints
    def _model_and_heads(self):
        inner = getattr(self.model, "module", self.model)  # DDP
        base = getattr(inner, "model", inner)
        heads = getattr(inner, "heads", None)
        return base, heads

    def save_checkpoint(self) -> None:
        if self.out is None or self.rank != 0:
            distributed.barrier()
            return
        self.out.mkdir(parents=True, exist_ok=True)
        base, heads = self._model_and_heads()
        state = {
            "model": base.state_dict(),
            "aux_heads": heads.state_dict() if heads is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.scheduler.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict() if self.aux_optimizer else None,
            "aux_lr_scheduler": self.aux_scheduler.state_dict() if self.aux_scheduler else None,
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "config": {"train": asdict(self.cfg), **self.extra},
            "history": self.history,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
        }
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "last.pt")
        key = main_score_key((self.history or [{}])[-1])
        scores = [row.get(key, -math.inf) for row in self.history]
        if scores and scores[-1] >= max(
            scores
        ):  # the best epoch so far (the later one on a tie): a copy
            shutil.copyfile(self.out / "last.pt", self.out / "best.pt.tmp")
            os.replace(self.out / "best.pt.tmp", self.out / "best.pt")
        distributed.barrier()

    def load_checkpoint(self) -> bool:
        path = self.out / "last.pt" if self.out else None
        if path is None or not path.is_file():
            return False
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as e:
            raise TrainingError(
                f"cannot read {path} ({type(e).__name__}); delete it to start over"
            ) from e
        saved = {**SAVED_BEFORE, **state.get("config", {}).get("train", {})}
        refused = extension_refused(saved, self.cfg, state["epoch"], _decays(self.loss))
        if refused:
            raise TrainingError(f"{path} cannot go on to {self.cfg.epochs} epochs: {refused}")
        changed = [
            k
            for k, v in asdict(self.cfg).items()
            if k not in (*FREE_ON_RESUME, "epochs") and k in saved and saved[k] != v
        ]
        if changed:
            was = ", ".join(f"{k}={saved[k]}" for k in changed)
            now = ", ".join(f"{k}={getattr(self.cfg, k)}" for k in changed)
            raise TrainingError(
                f"{path} was trained with {was}, not {now}; resume with the same settings "
                "(an exact resume needs them) or train into a new folder"
            )
        base, heads = self._model_and_heads()
        try:
            base.load_state_dict(state["model"])
            if heads is not None and state["aux_heads"] is not None:
                heads.load_state_dict(state["aux_heads"])
        except RuntimeError as e:
            raise TrainingError(
                f"{path} was written for another model or other tap points; "
                "use a new `out` or the same `model` and `points`"
            ) from e
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["lr_scheduler"])
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(state["aux_optimizer"])
            self.aux_scheduler.load_state_dict(state["aux_lr_scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.history = state["epoch"], state.get("history", [])
        torch.set_rng_state(state["rng"].cpu())  # map_location moved it along with the tensors
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        if self.rank == 0:  # a run killed between its checkpoint and its log line loses no row
            tmp = self.out / "metrics.jsonl.tmp"
            tmp.write_text("".join(json.dumps(row) + "\n" for row in self.history))
            os.replace(tmp, self.out / "metrics.jsonl")
        return True

    def _log(self, row: dict) -> None:
        if self.out is not None and self.rank == 0:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if self._writers is None:
                self._writers = make_logs(self.cfg.log, self.out)
            for writer in self._writers:
                writer.write(self.history)
