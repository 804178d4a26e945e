"""The trainer: exact resume, atomic checkpoints, NaN stops, stripped export."""

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from deepsup.losses import main_logits, make_loss
from deepsup.trainer import TrainConfig, Trainer, TrainingError
from tapfinder import select_points
from tapfinder.taps import attach
from tests.assets.models import Plain1D

g = torch.Generator().manual_seed(0)
TRAIN = TensorDataset(torch.randn(96, 1, 32, generator=g), torch.randint(0, 10, (96,), generator=g))
VAL = TensorDataset(torch.randn(32, 1, 32, generator=g), torch.randint(0, 10, (32,), generator=g))
CFG = TrainConfig(epochs=3, batch_size=32, lr=3e-3, seed=1)


def _trainer(out, recipe="dks", cfg=CFG):
    torch.manual_seed(0)
    model = Plain1D(depth=10, width=8)
    sel = select_points(model, torch.randn(2, 1, 32))
    tapped = attach(model, sel)
    return Trainer(
        tapped, make_loss(recipe, layouts=["channels_first"] * sel.m), TRAIN, VAL, cfg, out=out
    )


OWN = TrainConfig(**{**CFG.__dict__, "aux_state": "own"})
SHARED = TrainConfig(**{**CFG.__dict__, "aux_state": "shared"})


@pytest.mark.parametrize("cfg", [SHARED, OWN], ids=["shared", "own"])
def test_resume_gives_the_uninterrupted_result(tmp_path, cfg):
    full = _trainer(tmp_path / "full", cfg=cfg)
    full.fit()
    first = _trainer(tmp_path / "split", cfg=cfg)

    def killed(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) after the first epoch's checkpoint

    first.on_epoch = killed
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    second = _trainer(tmp_path / "split", cfg=cfg)  # a new process: same run folder, resume
    second.fit(resume=True)
    assert second.epoch == 3
    for a, b in zip(full.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["val_acc_main"] for r in full.history] == [r["val_acc_main"] for r in second.history]
    rows = [
        json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def test_checkpoint_keys_and_atomic_write(tmp_path):
    t = _trainer(tmp_path)
    t.fit()
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert {"model", "aux_heads", "optimizer", "lr_scheduler", "scaler", "epoch", "config"} <= set(
        state
    )
    assert not (tmp_path / "last.pt.tmp").exists()
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    scores = [row["val_acc_main"] for row in t.history]
    assert best["epoch"] == max(i + 1 for i, v in enumerate(scores) if v == max(scores))
    fresh = Plain1D(depth=10, width=8)
    fresh.load_state_dict(
        state["model"], strict=True
    )  # the stripped model is the original architecture


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    t = _trainer(tmp_path, cfg=TrainConfig(**{**CFG.__dict__, "epochs": 2}))
    real = t.loss
    calls = {"n": 0}

    def poisoned(out, y, progress=0.0):
        calls["n"] += 1
        total, terms = real(out, y, progress)
        return (
            (total * float("nan"), terms) if calls["n"] > 3 else (total, terms)
        )  # epoch 2 goes bad

    t.loss = poisoned
    with pytest.raises(
        TrainingError,
        match=r"loss became nan at epoch 2, step 1 \(the checkpoint of epoch 1 is "
        r"kept in .*\); lower the learning rate `lr` or the gradient clip `clip_grad` \(1\)",
    ):
        t.fit()
    assert torch.load(tmp_path / "last.pt", weights_only=False)["epoch"] == 1


def test_a_loss_that_is_nan_from_the_start_says_no_checkpoint_was_written(tmp_path):
    t = _trainer(tmp_path)
    t.loss = lambda out, y, progress=0.0: (main_logits(out).sum() * float("nan"), {})
    with pytest.raises(TrainingError, match=r"at epoch 1, step 1 \(no checkpoint was written\)"):
        t.fit()
    assert not (tmp_path / "last.pt").exists()


def test_checkpoint_from_another_model_is_a_clear_error(tmp_path):
    _trainer(tmp_path).fit()
    torch.manual_seed(0)
    other = Plain1D(depth=6, width=8)
    t = Trainer(other, make_loss("baseline"), TRAIN, VAL, CFG, out=tmp_path)
    with pytest.raises(TrainingError, match="another model"):
        t.fit(resume=True)


def test_resume_rewrites_the_log_from_the_checkpoint(tmp_path):
    """A kill between the checkpoint and its log line must not leave a hole in metrics.jsonl."""
    first = _trainer(tmp_path)

    def killed(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    first.on_epoch = killed
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    log = tmp_path / "metrics.jsonl"
    log.write_text(log.read_text().splitlines(keepends=True)[0])  # epoch 2's line never made it
    _trainer(tmp_path).fit(resume=True)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2, 3]


def test_resume_with_other_settings_is_refused(tmp_path):
    """OneCycle and the loss's α decay are planned over the epochs: a resume with more is not the
    same run."""
    _trainer(tmp_path, cfg=TrainConfig(**{**CFG.__dict__, "epochs": 2})).fit()
    with pytest.raises(
        TrainingError, match="cannot go on to 3 epochs: its onecycle schedule is laid out over 2"
    ):
        _trainer(tmp_path).fit(resume=True)
    with pytest.raises(
        TrainingError, match="trained with lr=0.003, not lr=0.001; resume with the same"
    ):
        _trainer(tmp_path, cfg=TrainConfig(**{**CFG.__dict__, "epochs": 2, "lr": 1e-3})).fit(
            resume=True
        )
    _trainer(tmp_path, cfg=TrainConfig(**{**CFG.__dict__, "epochs": 2, "workers": 1})).fit(
        resume=True
    )  # free


def test_a_finished_run_with_a_constant_schedule_is_extended_exactly(tmp_path):
    """Without a schedule laid out over the epochs, 2 epochs then 2 more are 4 epochs in one go."""
    constant = {**CFG.__dict__, "schedule": "none"}
    _trainer(tmp_path / "a", cfg=TrainConfig(**{**constant, "epochs": 2})).fit()
    extended = _trainer(tmp_path / "a", cfg=TrainConfig(**{**constant, "epochs": 4})).fit(
        resume=True
    )
    straight = _trainer(tmp_path / "b", cfg=TrainConfig(**{**constant, "epochs": 4})).fit()
    assert [r["epoch"] for r in extended] == [1, 2, 3, 4]
    assert [r["val_acc_main"] for r in extended] == [r["val_acc_main"] for r in straight]
    assert extended[-1]["loss"] == pytest.approx(straight[-1]["loss"], rel=1e-6)


class DictSegmenter(torch.nn.Module):
    """Returns a dict like torchvision's segmentation models ({'out': ..., 'aux': ...})."""

    def __init__(self, classes=3):
        super().__init__()

        def conv(i, o, s=1):
            return torch.nn.Sequential(torch.nn.Conv2d(i, o, 3, s, 1), torch.nn.ReLU())

        self.stage1, self.stage2, self.stage3 = conv(3, 8), conv(8, 16, 2), conv(16, 16, 2)
        self.classifier, self.aux = torch.nn.Conv2d(16, classes, 1), torch.nn.Conv2d(16, classes, 1)

    def forward(self, x):
        f = self.stage3(self.stage2(self.stage1(x)))
        up = lambda t: torch.nn.functional.interpolate(t, size=x.shape[-2:], mode="bilinear")  # noqa: E731
        return {"out": up(self.classifier(f)), "aux": up(self.aux(f))}


def test_a_model_returning_a_dict_trains_on_its_out_entry():
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(16, 3, 16, 16, generator=g), torch.randint(0, 3, (16, 16, 16), generator=g)
    )
    torch.manual_seed(0)
    model = DictSegmenter()
    sel = select_points(model, torch.randn(2, 3, 16, 16), points=["stage1", "stage2"])
    tapped = attach(model, sel, task="segmentation", num_classes=3)
    t = Trainer(
        tapped,
        make_loss("imachsr", layouts=["channels_first"] * 2),
        data,
        data,
        TrainConfig(epochs=1, batch_size=8),
        task="segmentation",
        num_classes=3,
    )
    row = t.fit()[-1]
    assert {k for k in row if k.startswith("val_")} == {
        "val_miou",
        "val_miou_aux0",
        "val_miou_aux1",
    }
    assert all(0.0 <= row[k] <= 1.0 for k in row if k.startswith("val_"))


@pytest.mark.parametrize("clip", [None, 0.0])
def test_gradients_are_clipped_to_norm_one_unless_turned_off(clip):
    """The first SGD step (Nesterov, momentum 0.9: 1.9 times the gradient) of learning rate 1 moves
    the parameters by at most 1.9 by default (``clip_grad`` 1), and further with clipping off."""
    g = torch.Generator().manual_seed(0)
    x, y = 100 * torch.randn(32, 1, 32, generator=g), torch.randint(0, 10, (32,), generator=g)
    data = TensorDataset(x, y)
    torch.manual_seed(0)
    model = Plain1D(depth=4, width=8)
    options = {} if clip is None else {"clip_grad": clip}
    cfg = TrainConfig(epochs=1, batch_size=32, optimizer="sgd", lr=1.0, schedule="none", **options)
    t = Trainer(
        attach(model, select_points(model, torch.randn(2, 1, 32))), make_loss(), data, data, cfg
    )
    before = torch.cat([p.detach().flatten().clone() for p in t.model.parameters()])
    t.train_one_epoch()
    moved = float((torch.cat([p.detach().flatten() for p in t.model.parameters()]) - before).norm())
    assert moved <= 1.9 + 1e-3 if clip is None else moved > 3.0


def test_aux_terms_on_an_own_state_leave_the_main_state_as_without_them():
    """With ``aux_state="own"`` the main optimizer's Adam moments after a step are those of a run
    without aux terms (the same batch, model and clipping), while the weights moved otherwise: the
    aux terms stepped through the second optimizer. With the shared state the moments differ."""
    one = TrainConfig(epochs=1, batch_size=96, lr=3e-3, seed=1, limit_batches=1, schedule="none")

    def stepped(recipe, aux_state):
        t = _trainer(None, recipe, TrainConfig(**{**one.__dict__, "aux_state": aux_state}))
        t.train_one_epoch()
        first = next(p for p in t.model.model.parameters() if p.dim() > 1)  # read by every head
        return t.optimizer.state[first]["exp_avg_sq"], first.detach()

    alone, weights_alone = stepped("baseline", "own")
    own, weights_own = stepped("dsn", "own")
    mixed, _ = stepped("dsn", "shared")
    assert torch.equal(own, alone)
    assert not torch.allclose(mixed, alone, rtol=0.1, atol=0.0)
    assert not torch.allclose(weights_own, weights_alone, rtol=1e-4, atol=0.0)


def test_a_checkpoint_from_before_aux_state_resumes_only_with_the_shared_state(tmp_path):
    t = _trainer(tmp_path, cfg=TrainConfig(**{**SHARED.__dict__, "epochs": 1}))
    t.fit()
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    del state["config"]["train"]["aux_state"]
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(TrainingError, match="trained with aux_state=shared, not aux_state=own"):
        _trainer(tmp_path, cfg=TrainConfig(**{**OWN.__dict__, "epochs": 1})).fit(resume=True)
    assert _trainer(tmp_path, cfg=TrainConfig(**{**SHARED.__dict__, "epochs": 1})).load_checkpoint()


def test_a_run_without_aux_terms_builds_one_optimizer_under_the_own_state(tmp_path):
    """``aux_state="own"`` (the default) is a second optimizer for the aux terms only: a baseline
    loss has none, so it trains and checkpoints as under one state."""
    assert OWN.aux_state == TrainConfig().aux_state == "own"
    plain = Trainer(Plain1D(depth=6, width=8), make_loss("baseline"), TRAIN, VAL, OWN, out=tmp_path)
    assert plain.aux_optimizer is None and plain.aux_scheduler is None
    assert _trainer(None, cfg=OWN).aux_optimizer is not None


def test_a_compiled_run_with_the_own_state_takes_its_gradients_without_donated_buffers():
    """Found on an H200 (``benchmarks/gpu_check.py``, torch 2.11): a compiled backward donates its
    buffers, which forbids taking the main and the aux gradients from one graph. The steps run
    with donated buffers off (the steps alone), and a run that takes one gradient keeps them."""
    import torch._functorch.config as functorch_config

    seen = []
    cfg = TrainConfig(**{**OWN.__dict__, "epochs": 1, "limit_batches": 1, "compile": True})
    t = _trainer(None, cfg=cfg)
    t.net = t.model  # what runs under the flag is what matters here, not the compiling
    step_apart = t._step_apart
    t._step_apart = lambda *a: seen.append(functorch_config.donated_buffer) or step_apart(*a)
    t.fit()
    assert seen == [False] and functorch_config.donated_buffer
    shared = _trainer(None, cfg=TrainConfig(**{**cfg.__dict__, "aux_state": "shared"}))
    with shared._keeping_buffers():
        assert functorch_config.donated_buffer
