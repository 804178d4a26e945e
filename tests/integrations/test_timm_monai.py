"""The timm task and the MONAI-style outputs: the loss includes aux terms, each is reported, the
inference state loads strictly into a fresh model, and MONAI's own loss and inference run."""

import pytest
import torch

from tapfinder import attach, select_points
from tests.assets.models import TinyResNet, TinyUNet


def test_a_timm_task_trains_the_model_and_its_heads():
    pytest.importorskip("timm.task")
    from deepsup.integrations.timm import DeepSupervisionTask

    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    task = DeepSupervisionTask(TinyResNet(), x[:2])
    optimizer = torch.optim.SGD(task.get_trainable_module().parameters(), lr=0.1)
    result = task(x, y)
    result["loss"].backward()
    optimizer.step()
    assert {"loss", "output", "loss_main", "loss_aux0"} <= set(result)  # auto: dsn
    assert result["loss"] > result["loss_main"]
    assert all(p.grad is not None for p in task.get_trainable_module().heads.parameters())
    TinyResNet().load_state_dict(task.state_dict_for_inference(), strict=True)
    assert isinstance(task.get_eval_model(), TinyResNet)
    ema = task.setup_ema(decay=0.9)
    task.update_ema()
    assert isinstance(task.get_eval_model(ema=True), TinyResNet) and ema is not None


def test_monai_deep_supervision_loss_and_sliding_window_inference_run_unchanged():
    monai = pytest.importorskip("monai")
    from deepsup.integrations.monai import DeepSupervisionOutputs

    torch.manual_seed(0)
    model = TinyUNet(classes=3)
    net = DeepSupervisionOutputs(
        attach(
            model,
            select_points(model, torch.randn(2, 3, 32, 32)),
            task="segmentation",
            num_classes=3,
        )
    )
    x = torch.randn(2, 3, 32, 32)
    y = torch.randint(0, 3, (2, 1, 32, 32)).float()  # MONAI's label maps, resized by interpolation
    outputs = net.train()(x)
    assert isinstance(outputs, list) and len(outputs) == 1 + len(net.tapped.points)
    loss = monai.losses.DeepSupervisionLoss(
        monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)
    )(outputs, y)
    loss.backward()
    assert torch.isfinite(loss)
    with torch.no_grad():
        plain = monai.inferers.sliding_window_inference(
            torch.randn(1, 3, 48, 48), (32, 32), 2, net.eval()
        )
    assert plain.shape == (1, 3, 48, 48)
    fresh = TinyUNet(classes=3)
    fresh.load_state_dict(net.detach().state_dict(), strict=True)
