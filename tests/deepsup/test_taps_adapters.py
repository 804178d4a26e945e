"""Adapters sized from shapes, taps that leave the model untouched, and exact stripping."""
import pytest
import torch
from torch import nn

from tapfinder import ConfigError, select_points
from tapfinder.adapters import AdapterSpec, adapter_cost, build_adapter
from tapfinder.taps import TapOutput, attach
from tests.assets.models import Plain1D, TinyResNet, TinyTransformer

X = torch.randn(2, 3, 32, 32)


def _strided(head):
    return [m for m in head.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.stride[0] == 2]


def test_dks_head_downsamples_to_the_main_heads_resolution():
    head = build_adapter(AdapterSpec((2, 16, 32, 32), "channels_first", (2, 64, 8, 8), num_classes=7))
    assert len(_strided(head)) == 2                       # 32 → 16 → 8
    assert head(torch.randn(2, 16, 32, 32)).shape == (2, 7)
    widths = [m.out_channels for m in head.modules() if isinstance(m, nn.Conv2d)]
    assert widths == sorted(widths) and widths[-1] == 64   # growing toward the main head's width


def test_light_tokens_1d_and_segmentation_heads():
    light = build_adapter(AdapterSpec((2, 16, 32, 32), "channels_first", (2, 64, 8, 8), kind="light"))
    assert not _strided(light) and light(torch.randn(2, 16, 32, 32)).shape == (2, 10)
    tokens = build_adapter(AdapterSpec((2, 50, 32), "channels_last", (2, 50, 32), num_classes=3))
    assert tokens(torch.randn(2, 50, 32)).shape == (2, 3)
    signal = build_adapter(AdapterSpec((2, 8, 40), "channels_first", (2, 8, 10)))
    assert len(_strided(signal)) == 2 and signal(torch.randn(2, 8, 40)).shape == (2, 10)
    seg = build_adapter(AdapterSpec((2, 32, 16, 16), "channels_first", (2, 64, 8, 8), task="segmentation",
                                    num_classes=4))
    assert seg(torch.randn(2, 32, 16, 16)).shape == (2, 4, 16, 16)


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


def test_non_module_point_is_refused_with_alternatives():
    model = TinyResNet()
    sel = select_points(model, X, points=["layer1.0.add"])
    with pytest.raises(ConfigError, match="not the output of a module"):
        attach(model, sel)


@pytest.mark.slow
def test_attach_then_compile():
    model = TinyResNet()
    tapped = attach(model, select_points(model, X)).eval()
    compiled = torch.compile(tapped)
    out, ref = compiled(X), tapped(X)
    assert torch.allclose(out.main, ref.main, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out.aux, ref.aux))
