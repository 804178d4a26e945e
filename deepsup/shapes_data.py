"""A generated segmentation set in which context matters: shapes told apart by outline, not texture.

Each 32×32 image holds 2-4 overlapping shapes (ellipse, rectangle, triangle, ring) on a textured
background; every shape gets a random colour and a random texture (stripes at a random angle and
frequency, or noise) drawn independently of its class, so a pixel's class can only be read from the
shape around it. Five classes: background and the four shapes. Deterministic for a seed.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

from .dataspec import DataSpec

__all__ = ["make_shapes", "shapes_dataset", "CLASSES"]

CLASSES = ("background", "ellipse", "rectangle", "triangle", "ring")


def _texture(g: torch.Generator, yy, xx) -> torch.Tensor:
    if torch.rand(1, generator=g) < 0.5:
        angle, freq = (
            float(torch.rand(1, generator=g)) * math.pi,
            0.3 + float(torch.rand(1, generator=g)) * 1.2,
        )
        phase = float(torch.rand(1, generator=g)) * 6.28
        return 0.5 + 0.5 * torch.sin(freq * (xx * math.cos(angle) + yy * math.sin(angle)) + phase)
    return torch.rand(yy.shape, generator=g)


def _mask(kind: int, g: torch.Generator, yy, xx, size: int) -> torch.Tensor:
    cy, cx = (torch.rand(2, generator=g) * (size - 8) + 4).tolist()
    a, b = (torch.rand(2, generator=g) * size / 4 + size / 8).tolist()
    if kind == 1:
        return ((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 <= 1
    if kind == 2:
        return ((yy - cy).abs() <= a * 0.8) & ((xx - cx).abs() <= b * 0.8)
    if kind == 3:  # upright or inverted isosceles triangle
        sign = 1 if torch.rand(1, generator=g) < 0.5 else -1
        rel = sign * (yy - cy) / a
        return (rel >= -1) & (rel <= 1) & ((xx - cx).abs() <= b * (1 - rel) / 2)
    r = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
    outer = max(a, b)
    return (r <= outer) & (r >= outer * 0.55)


def make_shapes(n: int, seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [n, 3, size, size] in [0, 1], masks [n, size, size] of class ids)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    images, masks = torch.empty(n, 3, size, size), torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        img = torch.rand(3, 1, 1, generator=g) * 0.5 * _texture(g, yy, xx)
        for _ in range(int(torch.randint(2, 5, (1,), generator=g))):
            kind = int(torch.randint(1, len(CLASSES), (1,), generator=g))
            m = _mask(kind, g, yy, xx, size)
            colour = torch.rand(3, 1, 1, generator=g)
            img = torch.where(m, colour * (0.4 + 0.6 * _texture(g, yy, xx)), img)
            masks[i][m] = kind
        images[i] = img + 0.05 * torch.randn(3, size, size, generator=g)
    return images.clamp(0, 1), masks


def shapes_dataset(train: int = 2000, val: int = 500, seed: int = 0) -> DataSpec:
    xt, yt = make_shapes(train, seed)
    xv, yv = make_shapes(val, seed + 10_000)
    return DataSpec(
        TensorDataset(xt, yt),
        TensorDataset(xv, yv),
        len(CLASSES),
        "segmentation",
        (3, 32, 32),
        f"shapes: {train} train / {val} val generated 32×32 images, {len(CLASSES)} classes per "
        "pixel",
    )
