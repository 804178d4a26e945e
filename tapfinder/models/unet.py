"""A small UNet (Ronneberger et al.) for the generated shapes set: 3 levels, 16/32/64 channels."""

from __future__ import annotations

import torch
from torch import nn

from . import register_model

__all__ = ["SmallUNet"]


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 5, width: int = 16):
        super().__init__()
        w = width
        self.enc1, self.enc2, self.enc3 = (
            _double(in_channels, w),
            _double(w, 2 * w),
            _double(2 * w, 4 * w),
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double(4 * w, 8 * w)
        self.up3, self.dec3 = nn.ConvTranspose2d(8 * w, 4 * w, 2, 2), _double(8 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, 2), _double(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, 2), _double(2 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        b = self.bottleneck(self.pool(e3))
        d3 = self.dec3(torch.cat([self.up3(b), e3], 1))
        d2 = self.dec2(torch.cat([self.up2(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


register_model("unet_small", (2, 3, 32, 32))(lambda **kw: SmallUNet(**kw))
