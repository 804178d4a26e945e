"""Deep plain 1D CNNs for MNIST-1D: the regime where deep supervision is known to help.

``plain1d48``: 48 conv3 layers × 32 channels, stride 2 after layers 16 and 32, ReLU, no
normalization,
Kaiming init, global average pooling and a linear classifier. ``plain1d20_bn``: 20 layers with
BatchNorm, where plain training already works and deep supervision should add nothing.
``plain1d34``: He et al.'s 34-layer plain net in 1D (a conv3 stem, then 6, 8, 12 and 6 conv3 layers
with stride 2 at the start of stages 2-4, 32 channels, no normalization, Kaiming init): uneven
stages,
as in most real networks, so evenly spaced points fall elsewhere than stage outputs.
``plain2d40`` (and ``plain2d40_bn``): the same design for 28×28 images, 40 conv3 layers × 16
channels with stride 2 at layers 13 and 26, the real-image regime of the training benchmark.
"""

from __future__ import annotations

from torch import nn

from . import register_model

__all__ = ["Plain1DCNN"]


_LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d),
}


class Plain1DCNN(nn.Module):
    """``depth`` conv3 layers (+ BatchNorm) + ReLU, stride 2 at the layers ``strides_after`` names,
    global average pooling and a linear classifier; ``dims=2`` builds it for images."""

    def __init__(
        self,
        depth: int = 48,
        width: int = 32,
        strides_after: tuple = (16, 32),
        batchnorm: bool = False,
        kaiming: bool = True,
        in_channels: int = 1,
        num_classes: int = 10,
        dims: int = 1,
    ):
        super().__init__()
        conv, bn, pool = _LAYERS[dims]
        layers, cin = [], in_channels
        for i in range(depth):
            stride = 2 if i in strides_after else 1
            block = [conv(cin, width, 3, stride, 1, bias=not batchnorm)]
            if batchnorm:
                block.append(bn(width))
            block.append(nn.ReLU(inplace=True))
            layers.append(nn.Sequential(*block))
            cin = width
        self.features = nn.Sequential(*layers)
        self.pool = pool(1)
        self.fc = nn.Linear(width, num_classes)
        if kaiming:
            for m in self.modules():
                if isinstance(m, conv):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


register_model("plain1d48", (2, 1, 40))(lambda **kw: Plain1DCNN(48, **kw))
register_model("plain1d34", (2, 1, 40))(
    lambda **kw: Plain1DCNN(33, strides_after=(7, 15, 27), **kw)
)
register_model("plain1d20_bn", (2, 1, 40))(
    lambda **kw: Plain1DCNN(20, strides_after=(7, 14), batchnorm=True, **kw)
)
register_model("plain1d32_default_init", (2, 1, 40))(
    lambda **kw: Plain1DCNN(32, strides_after=(11, 22), kaiming=False, **kw)
)
register_model("plain2d40", (2, 1, 28, 28))(
    lambda **kw: Plain1DCNN(40, width=16, strides_after=(13, 26), dims=2, **kw)
)
register_model("plain2d40_bn", (2, 1, 28, 28))(
    lambda **kw: Plain1DCNN(40, width=16, strides_after=(13, 26), batchnorm=True, dims=2, **kw)
)
