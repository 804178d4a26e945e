"""Adapters sized from shapes, taps that leave the model untouched, and exact stripping."""

import dataclasses

import pytest
import torch
from torch import nn

from tapfinder import ConfigError, select_points
from tapfinder.adapters import AdapterSpec, adapter_cost, build_adapter
from tapfinder.taps import TapOutput, attach
from tests.assets.models import FunctionalNet, Plain1D, TinyResNet, TinyTransformer

X = torch.randn(2, 3, 32, 32)


def _strided(head):
    return [m for m in head.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.stride[0] == 2]


def test_dks_head_downsamples_to_the_main_heads_resolution():
    head = build_adapter(
        AdapterSpec((2, 16, 32, 32), "channels_first", (2, 64, 8, 8), num_classes=7)
    )
    assert len(_strided(head)) == 2  # 32 → 16 → 8
    assert head(torch.randn(2, 16, 32, 32)).shape == (2, 7)
    widths = [m.out_channels for m in head.modules() if isinstance(m, nn.Conv2d)]
    assert widths == sorted(widths) and widths[-1] == 64  # growing toward the main head's width


class FlattenPooled(TinyResNet):
    """Pools with ``flatten(2).mean(2)``: the 8×8 map looks like a length-64 signal on the way."""

    def forward(self, x):
        return self.fc(self.layer3(self.layer2(self.layer1(self.stem(x)))).flatten(2).mean(2))


def test_dks_heads_downsample_toward_a_map_of_their_own_rank():
    model = FlattenPooled()
    tapped = attach(model, select_points(model, X, points=["layer1"]))
    assert len(_strided(tapped.head("layer1"))) == 2  # 32 → 16 → 8, not fooled by the flattened 64


def test_light_tokens_1d_and_segmentation_heads():
    light = build_adapter(
        AdapterSpec((2, 16, 32, 32), "channels_first", (2, 64, 8, 8), kind="light")
    )
    assert not _strided(light) and light(torch.randn(2, 16, 32, 32)).shape == (2, 10)
    tokens = build_adapter(AdapterSpec((2, 50, 32), "channels_last", (2, 50, 32), num_classes=3))
    assert tokens(torch.randn(2, 50, 32)).shape == (2, 3)
    signal = build_adapter(AdapterSpec((2, 8, 40), "channels_first", (2, 8, 10)))
    assert len(_strided(signal)) == 2 and signal(torch.randn(2, 8, 40)).shape == (2, 10)
    seg = build_adapter(
        AdapterSpec(
            (2, 32, 16, 16), "channels_first", (2, 64, 8, 8), task="segmentation", num_classes=4
        )
    )
    assert seg(torch.randn(2, 32, 16, 16)).shape == (2, 4, 16, 16)
    light_seg = build_adapter(
        AdapterSpec(
            (2, 32, 16, 16),
            "channels_first",
            (2, 64, 8, 8),
            task="segmentation",
            num_classes=4,
            kind="light",
        )
    )
    assert isinstance(light_seg, nn.Conv2d) and light_seg.kernel_size == (1, 1)
    assert light_seg(torch.randn(2, 32, 16, 16)).shape == (2, 4, 16, 16)


def test_channels_last_maps_get_the_feature_map_heads():
    # Swin's stages are [B, H, W, C]: the head moves the channels first, then downsamples as usual
    head = build_adapter(
        AdapterSpec((2, 16, 16, 32), "channels_last", (2, 4, 4, 128), num_classes=3)
    )
    assert len(_strided(head)) == 2 and head(torch.randn(2, 16, 16, 32)).shape == (2, 3)
    seg = build_adapter(
        AdapterSpec(
            (2, 16, 16, 32), "channels_last", (2, 4, 4, 128), task="segmentation", num_classes=3
        )
    )
    assert seg(torch.randn(2, 16, 16, 32)).shape == (2, 3, 16, 16)


@pytest.mark.parametrize(
    "name", ["tv:swin_t", "tv:shufflenet_v2_x0_5", "timm:coat_lite_tiny", "tv:googlenet"]
)
def test_real_models_train_with_heads_and_strip_exactly(name):
    """Swin (channels-last stages), ShuffleNet (stage outputs after a channel shuffle), CoaT
    (modules shared under two names) and GoogLeNet (a namedtuple output in train mode)."""
    pytest.importorskip("timm")
    from deepsup.losses import main_logits
    from tapfinder.sources import Build, load_model

    build = Build(num_classes=3, image_size=(64, 64))
    torch.manual_seed(0)
    model = load_model(name, build).model
    x = torch.randn(2, 3, 64, 64)
    selection = select_points(model, x)
    tapped = attach(model, selection, num_classes=3)
    out = tapped(x)
    assert len(out.aux) == len(selection.points) >= 1 and all(a.shape == (2, 3) for a in out.aux)
    (main_logits(out).sum() + sum(a.sum() for a in out.aux)).backward()
    fresh = load_model(name, build).model
    fresh.load_state_dict(tapped.detach().state_dict(), strict=True)


def test_adapter_cost_counts_parameters_and_flops():
    head = build_adapter(AdapterSpec((2, 16, 32, 32), "channels_first", (2, 64, 8, 8)))
    params, flops = adapter_cost(head, (2, 16, 32, 32))
    assert params == sum(p.numel() for p in head.parameters()) and flops > params


def test_bad_adapter_specs():
    with pytest.raises(ConfigError, match="task"):
        AdapterSpec((2, 8, 4, 4), "channels_first", (2, 8, 4, 4), task="detection")
    with pytest.raises(ConfigError, match="segmentation needs feature maps"):
        build_adapter(AdapterSpec((2, 8), "flat", (2, 8), task="segmentation"))


def test_attach_keeps_the_models_output_and_adds_aux_logits():
    model = TinyResNet().eval()
    expected = model(X)
    sel = select_points(model, X)
    tapped = attach(model, sel, num_classes=10).eval()
    out = tapped(X)
    assert isinstance(out, TapOutput) and torch.equal(out.main, expected)
    assert len(out.aux) == len(tapped.points) >= 1 and all(a.shape == (2, 10) for a in out.aux)
    assert [tuple(f.shape) for f in out.features] == [tuple(p.shape) for p in sel.points]


def test_stripped_model_loads_strictly_into_a_fresh_one():
    model = TinyResNet()
    tapped = attach(model, select_points(model, X))
    tapped(X).main.sum().backward()
    fresh = TinyResNet()
    fresh.load_state_dict(tapped.detach().state_dict(), strict=True)
    assert not model._forward_hooks and all(not m._forward_hooks for m in model.modules())


def test_token_and_1d_models_get_heads():
    tapped = attach(TinyTransformer(depth=8), select_points(TinyTransformer(depth=8), X, points=2))
    assert all(a.shape == (2, 10) for a in tapped(X).aux)
    model = Plain1D(depth=16)
    tapped = attach(model, select_points(model, torch.randn(2, 1, 64)))
    assert all(a.shape == (2, 10) for a in tapped(torch.randn(2, 1, 64)).aux)


def _reference_features(model, x):
    """The add's and conv3's inputs, computed by hand from the model's own modules."""
    h = torch.relu(model.conv1(x))
    return h + torch.relu(model.bn(model.conv2(h))) * model.scale


class ClassTokenTransformer(TinyTransformer):
    """A ViT: a learned class token in front of the patches, and the head reads it (``x[:, 0]``)."""

    def __init__(self, depth: int = 4, dim: int = 16):
        super().__init__(depth, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(self.blocks(x)[:, 0])


@pytest.mark.parametrize("method", ["fx", "export", "record"])
def test_token_heads_read_the_class_token_where_the_model_does(method):
    from tapfinder.adapters import reads_class_token
    from tapfinder.api import build_graph

    assert reads_class_token(build_graph(ClassTokenTransformer(), X, methods=(method,)), 65)
    assert not reads_class_token(
        build_graph(TinyTransformer(), X, methods=(method,)), 64
    )  # mean pooling
    tapped = attach(
        ClassTokenTransformer(depth=8), select_points(ClassTokenTransformer(depth=8), X, points=2)
    )
    assert all(tapped.head(p).cls_token for p in tapped.points)
    patches = torch.randn(2, 65, 16)
    head = tapped.head(tapped.points[0])
    changed = patches.clone()
    changed[:, 1:] += 1.0
    assert torch.equal(head(patches), head(changed))  # only token 0 is read


def test_non_module_points_are_read_through_an_fx_rewrite():
    model = FunctionalNet().eval()
    sel = select_points(model, X, points=["add"])
    tapped = attach(model, sel, num_classes=10).eval()
    out = tapped(X)
    assert torch.equal(out.main, model(X)) and out.aux[0].shape == (2, 10)
    assert torch.allclose(out.features[0], _reference_features(model, X))
    assert set(tapped.state_dict()) == {f"model.{k}" for k in model.state_dict()} | {
        f"heads.{k}" for k in tapped.heads.state_dict()
    }  # the rewritten program is not saved
    tapped.train()  # dropout is live again in train mode
    assert not torch.equal(tapped(X).main, tapped(X).main)
    tapped(X).aux[0].sum().backward()  # the aux loss reaches the model's weights
    assert model.conv1.weight.grad is not None and model.conv3.weight.grad is None
    tapped.double().eval()  # buffers replaced: traced again
    assert torch.equal(tapped(X.double()).main, model(X.double()))
    fresh = FunctionalNet()
    fresh.load_state_dict(tapped.detach().state_dict(), strict=True)


def test_rewrite_follows_swapped_modules():
    """convert_sync_batchnorm and friends replace submodules; the rewritten program must use the new
    ones."""
    model = FunctionalNet().eval()
    tapped = attach(model, select_points(model, X, points=["add"])).eval()
    tapped(X)
    model.bn = nn.BatchNorm2d(8, eps=0.5).eval()
    assert torch.equal(tapped(X).main, model(X))
    assert torch.allclose(tapped(X).features[0], _reference_features(model, X))


def test_module_and_op_points_mix_and_match_the_hooked_values():
    model = TinyResNet().eval()
    sel = select_points(model, X, points=["layer1.0.add", "layer2"])
    tapped = attach(model, sel).eval()
    seen = {}
    model.layer2.register_forward_hook(lambda m, a, o: seen.__setitem__("layer2", o))
    expected = model(X)
    out = tapped(X)
    assert torch.equal(out.main, expected) and torch.allclose(out.features[1], seen["layer2"])


def test_op_point_in_a_model_fx_cannot_trace_is_refused_with_alternatives():
    model = TinyResNet()
    sel = select_points(model, X, points=["layer1.0.add"])
    sel = dataclasses.replace(sel, method="record")
    with pytest.raises(ConfigError, match="not the output of a module.*choose module outputs"):
        attach(model, sel)


@pytest.mark.slow
def test_attach_then_compile():
    model = TinyResNet()
    tapped = attach(model, select_points(model, X)).eval()
    compiled = torch.compile(tapped)
    out, ref = compiled(X), tapped(X)
    assert torch.allclose(out.main, ref.main, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out.aux, ref.aux))


@pytest.mark.slow
def test_fx_rewritten_taps_compile():
    model = FunctionalNet().eval()
    tapped = attach(model, select_points(model, X, points=["add"])).eval()
    out, ref = torch.compile(tapped)(X), tapped(X)
    assert torch.allclose(out.main, ref.main, atol=1e-5) and torch.allclose(
        out.aux[0], ref.aux[0], atol=1e-5
    )


def _batch_norms(module) -> int:
    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


@pytest.mark.parametrize(
    "name, head_norm, normalized",
    [
        ("plain1d48", "auto", False),  # norm-free backbone: heads without BatchNorm
        ("resnet1d32", "auto", True),  # a backbone with BatchNorm: heads with it
        ("plain1d48", "batch", True),
        ("resnet1d32", "none", False),
    ],
)
def test_head_norm_follows_the_backbone(name, head_norm, normalized):
    from tapfinder import attach, select_points
    from tapfinder.models import get_model

    model, shape = get_model(name)
    assert (_batch_norms(model) > 0) == (name == "resnet1d32")
    tapped = attach(model, select_points(model, torch.randn(*shape)), head_norm=head_norm)
    assert (_batch_norms(tapped.heads) > 0) == normalized


def test_an_unknown_head_norm_is_one_clear_error():
    from tapfinder import ConfigError, attach, select_points
    from tapfinder.models import get_model

    model, shape = get_model("plain1d48")
    with pytest.raises(ConfigError, match="head_norm"):
        attach(model, select_points(model, torch.randn(*shape)), head_norm="layer")
