"""CIFAR ResNets of He et al. (2016), the backbones of the DKS CIFAR-100 experiments.

Three stages of ``n`` basic blocks at 16/32/64 channels on 32×32 inputs, depth 6n + 2; shortcuts
that change shape subsample and zero-pad channels (option A), so every weight sits on the main path.
``dims=1`` builds the same network with 1D convolutions for MNIST-1D (``resnet1d32``: the ResNet
regime of the training benchmark, 1 input channel, 10 classes, length 40 → 20 → 10).

``blocks`` gives each stage its own count instead: ``resnet1d34`` is He et al.'s 34-layer layout
(3, 4, 6, 3 basic blocks at 16/32/64/128 channels, length 40 → 20 → 10 → 5), whose stages are
uneven, as in most real networks, so evenly spaced points fall elsewhere than stage outputs.
``resnet2d38`` (6 blocks a stage, one input channel) is the residual net of the real-image regime.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from . import register_model

__all__ = ["CifarResNet", "cifar_resnet"]


_LAYERS = {1: (nn.Conv1d, nn.BatchNorm1d), 2: (nn.Conv2d, nn.BatchNorm2d)}


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dims: int = 2):
        super().__init__()
        conv, bn = _LAYERS[dims]
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = bn(cout)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = bn(cout)
        self.pad = cout - cin
        self.stride = stride
        self.dims = dims

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.pad:
            sub = (
                x[:, :, :: self.stride]
                if self.dims == 1
                else x[:, :, :: self.stride, :: self.stride]
            )
            shortcut = F.pad(sub, (0, 0) * self.dims + (self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(
        self,
        depth: int = 32,
        num_classes: int = 100,
        dims: int = 2,
        in_channels: int = 3,
        blocks: "tuple[int, ...] | None" = None,
    ):
        super().__init__()
        if blocks is None:
            if (depth - 2) % 6:
                raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
            blocks = (((depth - 2) // 6),) * 3
        if dims not in _LAYERS:
            raise ValueError(f"dims must be 1 or 2, got {dims}")
        conv, bn = _LAYERS[dims]
        self.dims = dims
        self.conv1 = conv(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = bn(16)
        self.stage_names, cin = [], 16  # stage module names, in order
        for i, n in enumerate(blocks):
            cout = 16 * 2**i
            stage = nn.Sequential(
                *[
                    _BasicBlock(cin if j == 0 else cout, cout, 2 if (i and j == 0) else 1, dims)
                    for j in range(n)
                ]
            )
            setattr(self, f"layer{i + 1}", stage)
            self.stage_names.append(f"layer{i + 1}")
            cin = cout
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        pool = F.adaptive_avg_pool1d if self.dims == 1 else F.adaptive_avg_pool2d
        return self.fc(pool(x, 1).flatten(1))


def cifar_resnet(depth: int, num_classes: int = 100) -> CifarResNet:
    return CifarResNet(depth, num_classes)


for _depth in (20, 32, 56, 110, 1202):
    register_model(f"cifar_resnet{_depth}", (2, 3, 32, 32))(
        lambda d=_depth, **kw: CifarResNet(d, **kw)
    )
register_model("resnet1d32", (2, 1, 40))(
    lambda **kw: CifarResNet(32, dims=1, **{"num_classes": 10, "in_channels": 1, **kw})
)
register_model("resnet1d34", (2, 1, 40))(
    lambda **kw: CifarResNet(
        dims=1, blocks=(3, 4, 6, 3), **{"num_classes": 10, "in_channels": 1, **kw}
    )
)
register_model("resnet2d38", (2, 1, 28, 28))(
    lambda **kw: CifarResNet(38, dims=2, **{"num_classes": 10, "in_channels": 1, **kw})
)
