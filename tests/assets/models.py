"""Tiny models for tracing tests: each is a few layers with one structural feature to find."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """A residual basic block; downsamples when stride 2 (with a 1×1 projection shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.down = (
            None
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    """Stem, three stages of two blocks (16, 32, 64 channels), pooled linear head."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.layer1 = nn.Sequential(Block(16, 16), Block(16, 16))
        self.layer2 = nn.Sequential(Block(16, 32, 2), Block(32, 32))
        self.layer3 = nn.Sequential(Block(32, 64, 2), Block(64, 64))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.b1 = nn.Conv2d(c, c // 2, 1)
        self.b2 = nn.Sequential(
            nn.Conv2d(c, c // 2, 1), nn.ReLU(), nn.Conv2d(c // 2, c // 2, 3, padding=1)
        )

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x)], 1)


class MultiBranchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.mix1 = Inception(16)
        self.pool = nn.MaxPool2d(2)
        self.mix2 = Inception(16)
        self.mix3 = Inception(16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(self.mix1(self.stem(x)))
        x = self.mix3(self.mix2(x))
        return self.head(x.mean((2, 3)))


def _double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(),
    )


class TinyUNet(nn.Module):
    def __init__(self, classes: int = 3):
        super().__init__()
        self.enc1, self.enc2 = _double_conv(3, 8), _double_conv(8, 16)
        self.mid = _double_conv(16, 32)
        self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, 2), _double_conv(32, 16)
        self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 2, 2), _double_conv(16, 8)
        self.out = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.out(d1)


class HandAttention(nn.Module):
    """softmax(QKᵀ/√d)·V written out by hand."""

    def __init__(self, dim: int):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.scale = dim**-0.5

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        return self.proj(attn.softmax(dim=-1) @ v)


class TokenBlock(nn.Module):
    def __init__(self, dim: int, hand: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = HandAttention(dim) if hand else nn.MultiheadAttention(dim, 2, batch_first=True)
        self.hand = hand
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + (self.attn(h) if self.hand else self.attn(h, h, h, need_weights=False)[0])
        return x + self.mlp(self.norm2(x))


class TinyTransformer(nn.Module):
    def __init__(self, depth: int = 4, dim: int = 16, hand: bool = True):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, 4)
        self.blocks = nn.Sequential(*[TokenBlock(dim, hand) for _ in range(depth)])
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.blocks(x).mean(1))


class ValueDependent(nn.Module):
    """Has a data-dependent output shape (``nonzero``), so shapes cannot come from meta tensors."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        y = self.conv(x)
        count = torch.nonzero(y > -1e9).shape[0]
        return self.fc(y.mean((2, 3))) * (count > 0)


class Plain1D(nn.Module):
    """A plain deep 1D CNN (no normalization), stride 2 after layers 4 and 8, as in the MNIST-1D
    runs."""

    def __init__(self, depth: int = 12, width: int = 8):
        super().__init__()
        layers, cin = [], 1
        for i in range(depth):
            layers += [nn.Conv1d(cin, width, 3, 2 if i in (4, 8) else 1, 1), nn.ReLU()]
            cin = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.features(x).mean(-1))


class Residual1D(nn.Module):
    """Plain 1D convs joined by functional residual adds: the adds are points no module outputs."""

    def __init__(self, depth: int = 6, width: int = 8):
        super().__init__()
        self.stem = nn.Conv1d(1, width, 3, 1, 1)
        self.convs = nn.ModuleList(nn.Conv1d(width, width, 3, 1, 1) for _ in range(depth))
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for conv in self.convs:
            x = x + F.relu(conv(x))
        return self.head(x.mean(-1))


class FunctionalNet(nn.Module):
    """Points that are no module's output: a functional residual add, and dropout that reads
    self.training."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 10)
        self.register_buffer("scale", torch.ones(1, 8, 1, 1))

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = x + torch.relu(self.bn(self.conv2(x))) * self.scale
        x = F.dropout(x, 0.5, self.training)
        x = torch.relu(self.conv3(x))
        return self.fc(x.mean((2, 3)))


# the two ways a point is read, for the torchrun tests: (model factory, points named so the
# comparison
# does not move with the selector)
TAP_KINDS = {
    "hooks": (lambda: Plain1D(depth=10, width=8), ["features.15"]),  # module outputs: forward hooks
    "rewrite": (Residual1D, ["add_1", "add_3"]),
}  # functional adds: the fx rewrite
