"""Adapters: the auxiliary head of each tap point, sized from the propagated shapes.

Classification on feature maps (2D images, 1D signals), DKS style (the default): conv-BN-ReLU
stride-2 stages until the point reaches the main head's resolution, widths growing toward the main
head's width, then global pooling and a linear layer, so every path from the input to a classifier
crosses the same number of downsamplings (DKS §3.3; its Table 3 shows simple pooling+linear heads
*hurt* while such heads help). ``light``: a 1×1 conv, pooling and a linear layer. Token sequences
[B, T, C]: LayerNorm, mean pooling (or the class token), linear. Channels-last maps [B, H, W, C]
(Swin's stages) are moved to channels first and get the feature-map heads. Segmentation: an FCN head
(3×3 conv
to C/4, BN, ReLU, dropout, 1×1 conv to K classes), or with ``light`` a single 1×1 conv to K
classes; the loss upsamples its logits to the target (or downsamples the target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from .errors import ConfigError
from .frontends.modes import in_mode
from .graph import info

__all__ = [
    "AdapterSpec",
    "TokenwiseHead",
    "build_adapter",
    "adapter_cost",
    "describe_adapter",
    "main_head_input",
    "reads_class_token",
]

TASKS = ("classification", "segmentation", "token")
KINDS = ("dks", "light")


@dataclass(frozen=True)
class AdapterSpec:
    """What an adapter reads and what it must produce."""

    shape: tuple  # the point's output shape, batch first
    layout: str  # "channels_first" | "channels_last" | "flat"
    main_shape: tuple  # the main head's input features, batch first, same layout
    task: str = "classification"
    num_classes: int = 10
    kind: str = "dks"
    cls_token: bool = False
    norm: bool = (
        True  # normalize as the backbone does: BatchNorm in map heads (False: a norm-free net)
    )

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"adapter kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2, got {self.num_classes}")


def _conv_nd(dims: int, norm: bool = True):
    """(conv, norm, pool) classes for ``dims`` spatial dims; without ``norm``, an identity norm."""
    conv, bn, pool = {
        1: (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d),
        2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d),
        3: (nn.Conv3d, nn.BatchNorm3d, nn.AdaptiveAvgPool3d),
    }[dims]
    return conv, bn if norm else _no_norm, pool


def _no_norm(channels: int) -> nn.Module:
    return nn.Identity()


class _Tokens(nn.Module):
    def __init__(self, channels: int, num_classes: int, cls_token: bool):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.fc = nn.Linear(channels, num_classes)
        self.cls_token = cls_token

    def forward(self, x):
        x = self.norm(x)
        return self.fc(x[:, 0] if self.cls_token else x.mean(1))


class TokenwiseHead(nn.Module):
    """Predicts at every position of [B, T, C] tokens: a norm, then a linear map to the classes
    (its own, or the model's final norm and unembedding, as LayerSkip's early exits do)."""

    def __init__(self, norm: nn.Module, unembed: nn.Module):
        super().__init__()
        self.norm, self.unembed = norm, unembed

    def forward(self, x):
        return self.unembed(self.norm(x))


class _ChannelsFirst(nn.Module):
    """[B, *spatial, C] → [B, C, *spatial] (no weights: the head's state is the wrapped head's)."""

    def forward(self, x):
        return x.movedim(-1, 1)


def _channels_first(spec: AdapterSpec) -> AdapterSpec:
    """The spec of the same features seen channels first."""

    def move(shape):
        return (shape[0], shape[-1], *shape[1:-1]) if len(shape) >= 3 else tuple(shape)

    return replace(
        spec, shape=move(spec.shape), layout="channels_first", main_shape=move(spec.main_shape)
    )


def _feature_map_classifier(spec: AdapterSpec) -> nn.Module:
    c, spatial = spec.shape[1], spec.shape[2:]
    cm, main_spatial = spec.main_shape[1], spec.main_shape[2:]
    conv, bn, pool = _conv_nd(len(spatial), spec.norm)
    layers: list[nn.Module] = []
    if spec.kind == "light":
        layers += [conv(c, cm, 1, bias=not spec.norm), bn(cm), nn.ReLU(inplace=True)]
    else:
        ratio = max(s / max(m, 1) for s, m in zip(spatial, main_spatial))
        steps = max(0, round(math.log2(ratio))) if ratio > 1 else 0
        widths = [round(c * (cm / c) ** ((i + 1) / steps)) for i in range(steps)] if steps else [cm]
        cin = c
        for i, w in enumerate(widths):
            layers += [
                conv(cin, w, 3, stride=2 if steps else 1, padding=1, bias=not spec.norm),
                bn(w),
                nn.ReLU(inplace=True),
            ]
            cin = w
    layers += [pool(1), nn.Flatten(1), nn.Linear(cm, spec.num_classes)]
    return nn.Sequential(*layers)


def _segmentation_head(spec: AdapterSpec) -> nn.Module:
    c, dims = spec.shape[1], len(spec.shape) - 2
    conv, bn, _ = _conv_nd(dims, spec.norm)
    if spec.kind == "light":
        return conv(c, spec.num_classes, 1)
    mid = max(c // 4, 8)
    return nn.Sequential(
        conv(c, mid, 3, padding=1, bias=not spec.norm),
        bn(mid),
        nn.ReLU(inplace=True),
        nn.Dropout(0.1),
        conv(mid, spec.num_classes, 1),
    )


def build_adapter(spec: AdapterSpec) -> nn.Module:
    """The head for one tap point (see the module docstring).

    Raises:
        ConfigError: a point whose shape the task cannot use (flat features for segmentation, say).
    """
    if spec.task == "token":
        if spec.layout != "channels_last" or len(spec.shape) != 3:
            raise ConfigError(
                f"a token task needs [B, T, C] token features at every point; got shape "
                f"{spec.shape} ({spec.layout})"
            )
        return TokenwiseHead(
            nn.LayerNorm(spec.shape[-1]), nn.Linear(spec.shape[-1], spec.num_classes)
        )
    if spec.layout == "channels_last" and len(spec.shape) >= 4:
        return nn.Sequential(_ChannelsFirst(), build_adapter(_channels_first(spec)))
    if spec.task == "segmentation":
        if spec.layout != "channels_first" or len(spec.shape) < 3:
            raise ConfigError(
                f"segmentation needs feature maps at every point; got shape {spec.shape}"
            )
        return _segmentation_head(spec)
    if spec.layout == "channels_last" and len(spec.shape) == 3:
        return _Tokens(spec.shape[-1], spec.num_classes, spec.cls_token)
    if spec.layout == "channels_first" and len(spec.shape) >= 3:
        return _feature_map_classifier(spec)
    if len(spec.shape) == 2:
        return nn.Sequential(
            nn.LayerNorm(spec.shape[1]), nn.Linear(spec.shape[1], spec.num_classes)
        )
    raise ConfigError(
        f"no adapter for features of shape {spec.shape} ({spec.layout}); choose another point"
    )


def describe_adapter(adapter: nn.Module) -> str:
    """What a head built by :func:`build_adapter` does, in a few words (for the preview).

    >>> maps = AdapterSpec((2, 16, 32, 32), "channels_first", (2, 64, 8, 8))
    >>> describe_adapter(build_adapter(maps))
    '2× conv3 s2 16→32→64, pool, linear'
    >>> describe_adapter(build_adapter(replace(maps, norm=False)))
    '2× conv3 s2 16→32→64 (no BatchNorm), pool, linear'
    >>> tokens = AdapterSpec((2, 50, 32), "channels_last", (2, 50, 32), cls_token=True)
    >>> describe_adapter(build_adapter(tokens))
    'LayerNorm, class token, linear'
    """
    if isinstance(adapter, _Tokens):
        return f"LayerNorm, {'class token' if adapter.cls_token else 'mean of tokens'}, linear"
    if isinstance(adapter, TokenwiseHead):
        return "per token: norm, linear to the classes"
    parts = list(adapter) if isinstance(adapter, nn.Sequential) else [adapter]
    prefix = ""
    if parts and isinstance(parts[0], _ChannelsFirst):
        prefix, parts = "channels first, ", list(parts[1])
    convs = [m for m in parts if isinstance(m, nn.modules.conv._ConvNd)]
    pooled = any(
        isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d))
        for m in parts
    )
    if not convs:
        return prefix + "LayerNorm, linear"
    k = convs[0].kernel_size[0]
    widths = "→".join(str(c) for c in [convs[0].in_channels, *(m.out_channels for m in convs)])
    normed = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in adapter.modules())
    if not pooled:  # dense: an FCN head or one 1×1 conv to the classes
        middle = "BN ReLU" if normed else "ReLU"
        return prefix + (
            f"conv{k} {middle} dropout, conv1 {widths}" if len(convs) > 1 else f"conv1 {widths}"
        )
    strided = " s2" if any(m.stride[0] == 2 for m in convs) else ""
    plain = "" if normed else " (no BatchNorm)"
    return prefix + f"{len(convs)}× conv{k}{strided} {widths}{plain}, pool, linear"


def adapter_cost(adapter: nn.Module, shape: tuple) -> tuple[int, int]:
    """(parameters, FLOPs for one sample) of ``adapter`` reading features of ``shape``."""
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in adapter.parameters())
    with in_mode(adapter, False), torch.no_grad(), FlopCounterMode(display=False) as counter:
        adapter(torch.zeros(1, *shape[1:]))
    return params, int(counter.get_total_flops())


def main_head_input(selection, layout: str, spatial_rank: int | None = None) -> tuple | None:
    """The deepest whole-signal feature shape before global pooling: what the main head reads.

    With ``spatial_rank`` only maps of that many spatial dims count, in either layout: a
    ``flatten(2)``
    before the pooling turns an 8×8 map into a length-64 one, which is no resolution to downsample
    toward.
    """
    best = None
    for node in selection.whole:
        record = info(selection.graph, node)
        if record.layout != layout or not record.shape:
            continue
        spatial = record.spatial or ()
        if (layout == "channels_first" or spatial_rank) and math.prod(spatial or (1,)) <= 1:
            continue
        if spatial_rank is not None and len(spatial) != spatial_rank:
            continue
        key = (selection.depths.get(node, 0), record.order)
        if best is None or key > best[0]:
            best = (key, tuple(record.shape))
    return best[1] if best else None


def reads_class_token(graph, length: int) -> bool:
    """Whether the model picks token 0 of a [B, T, C] sequence of ``length`` tokens (``x[:, 0]``):
    its head reads a class token, and so should the heads of its token points."""
    for key in graph:
        if info(graph, key).token != 0:
            continue
        for parent in map(lambda p: info(graph, p), graph.predecessors(key)):
            shape = parent.shape or ()
            if len(shape) == 3 and shape[1] == length and parent.layout == "channels_last":
                return True
    return False
