import pytest
import torch

from tapfinder.api import build_graph
from tapfinder.errors import TraceError
from tests.assets.models import Plain1D, TinyResNet, TinyTransformer, TinyUNet, ValueDependent

X = torch.randn(2, 3, 32, 32)


def test_nodes_are_named_by_module_path():
    G = build_graph(TinyResNet(), X)
    assert {"stem", "layer1", "layer2", "layer3", "fc"} <= set(G.nodes)
    assert "layer1.0.add" in G  # an op inside a block: owner path + op name
    info = G.nodes["layer2"]["tf"]
    assert info.shape == (2, 32, 16, 16) and info.spatial == (16, 16) and info.channels == 32
    assert "layer2.1" in info.aliases  # the last block's output is the stage's output


def test_graph_holds_only_tensor_dataflow():
    G = build_graph(TinyTransformer(), X)
    assert all(G.nodes[n]["tf"].shape is not None or G.out_degree(n) for n in G)
    assert G.graph["outputs"] == ["head"] and G.graph["inputs"] == ["x"]


def test_weighted_nodes_and_layout():
    G = build_graph(TinyTransformer(hand=False), X)
    assert G.nodes["embed"]["tf"].weighted and not G.nodes["blocks.0.norm1"]["tf"].weighted
    assert G.nodes["blocks.0.attn"]["tf"].op == "attention"
    tokens = G.nodes["blocks.0"]["tf"]
    assert tokens.layout == "channels_last" and tokens.channels == 16 and tokens.spatial == (64,)


def test_model_is_left_as_found():
    model = TinyResNet()
    model.eval()
    model.layer1.train()  # mixed modes must survive
    before = {k: v.clone() for k, v in model.state_dict().items()}
    build_graph(model, X)
    assert not model.training and model.layer1.training and not model.layer2.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats untouched


class SharedBlocks(torch.nn.Module):
    """One conv-BN block reached under two names (CoaT shares modules this way), and one ShuffleNet
    channel shuffle: [B, C, H, W] viewed as [B, g, C/g, H, W], transposed and viewed back."""

    def __init__(self):
        super().__init__()
        self.first = torch.nn.Sequential(
            torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8)
        )
        self.second = self.first
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = self.first(self.stem(x))
        b, c, h, w = x.shape
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, c, h, w)
        return self.head(self.second(x).mean((2, 3)))


class EmptyShortcuts(torch.nn.Module):
    """Blocks whose shortcut is an empty ``nn.Sequential`` (GhostNet, many CIFAR ResNets): it
    returns its input, the previous block's output, when the next block runs."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.shortcut = torch.nn.Sequential()

        def forward(self, x):
            return torch.relu(self.conv(x)) + self.shortcut(x)

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = torch.nn.Sequential(*[torch.nn.Sequential(self.Block()) for _ in range(3)])
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


@pytest.mark.parametrize("method", ["fx", "record"])
def test_a_block_output_is_named_after_the_block_not_the_next_blocks_shortcut(method):
    G = build_graph(EmptyShortcuts(), X, methods=(method,))
    assert {"stem", "blocks.0", "blocks.1"} <= set(G.nodes)
    assert "blocks.1.0.shortcut" in G.nodes["blocks.0"]["tf"].aliases


@pytest.mark.parametrize("method", ["fx", "export", "record"])
def test_shared_modules_are_left_as_found(method):
    model = SharedBlocks().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    build_graph(model, X, methods=(method,))
    assert {p.device.type for p in [*model.parameters(), *model.buffers()]} == {"cpu"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model(X)  # still runs on real tensors


def test_a_channel_shuffle_keeps_the_layout():
    G = build_graph(SharedBlocks(), X)
    shuffled = [
        n
        for n in G
        if G.nodes[n]["tf"].op == "reshape" and G.nodes[n]["tf"].shape == (2, 8, 32, 32)
    ]
    assert shuffled and all(G.nodes[n]["tf"].layout == "channels_first" for n in shuffled)
    five_d = [n for n in G if len(G.nodes[n]["tf"].shape or ()) == 5]
    assert five_d and all(G.nodes[n]["tf"].layout is None for n in five_d)


def test_shapes_fall_back_to_real_tensors_when_meta_cannot_run():
    G = build_graph(ValueDependent(), X)
    assert G.graph["shape_method"] in ("fake", "real")
    assert G.nodes["conv"]["tf"].shape == (2, 8, 32, 32)


def test_one_dimensional_signals():
    G = build_graph(Plain1D(), torch.randn(2, 1, 64))
    assert G.nodes["features.9"]["tf"].spatial == (32,)  # after the first stride-2 conv
    assert G.nodes["features.17"]["tf"].spatial == (16,)  # after the second


def test_unet_skip_sources_found():
    from tapfinder.rules import build_context

    G = build_graph(TinyUNet(), X)
    ctx = build_context(G)
    assert {"enc1", "enc2"} <= set(ctx.skips)


def test_wrong_input_shape_is_a_trace_error_naming_the_module():
    with pytest.raises(
        TraceError,
        match=r"TinyResNet fails on its example input in stem\.0: RuntimeError: .*"
        r"to have 3 channels.*give one the model takes with `input_shape`",
    ):
        build_graph(TinyResNet(), torch.randn(2, 5, 32, 32))


class Branchy(torch.nn.Module):
    """Data-dependent control flow: neither fx nor torch.export can capture it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 2)

    def forward(self, x):
        y = self.conv(x)
        y = y if y.sum() > 0 else -y
        return self.fc(y.mean((2, 3)))


def test_untraceable_control_flow_is_a_trace_error_for_fx():
    with pytest.raises(TraceError, match="torch.fx could not trace"):
        build_graph(Branchy(), X, methods=("fx",))


def test_the_chain_falls_back_and_says_why():
    G = build_graph(Branchy(), X)
    assert G.graph["method"] in ("export", "record")
    assert G.graph["fallbacks"][0][0] == "fx" and "could not trace" in G.graph["fallbacks"][0][1]
    assert {"conv", "fc"} <= set(G.nodes) and G.graph["outputs"] == ["fc"]


def test_shape_rules_match_real_modules():
    """The meta shape short-cuts (pooling, Linear, conv, attention, cat) give the real shapes."""
    from tapfinder.frontends.shapes import _concat_only, _shape_only

    x = torch.randn(2, 8, 7, 5)
    cases = [
        (torch.nn.AdaptiveAvgPool2d(1), (x,), {}),
        (torch.nn.AdaptiveAvgPool2d((None, 2)), (x,), {}),
        (torch.nn.AdaptiveMaxPool1d(3), (x[:, :, 0],), {}),
        (torch.nn.Linear(5, 3), (x,), {}),
        (torch.nn.BatchNorm2d(8), (x,), {}),
        (torch.nn.Conv2d(8, 4, 3, 2, 1, bias=False), (x,), {}),
        (torch.nn.Conv2d(8, 4, (3, 1), dilation=2, padding="same"), (x,), {}),
        (torch.nn.Conv1d(8, 4, 5, 3, padding="valid"), (x[:, :, 0],), {}),
        (torch.nn.Conv3d(8, 2, 2, padding=1), (x[:, :, None],), {}),
        (torch.nn.MaxPool2d(2), (x,), {}),
        (torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True), (x,), {}),
        (torch.nn.AvgPool2d((2, 3), ceil_mode=True), (x,), {}),
        (torch.nn.MaxPool1d(2, dilation=2), (x[:, :, 0],), {}),
        (torch.nn.AvgPool1d(3, 2, 1), (x[:, :, 0],), {}),
        (torch.nn.ConvTranspose2d(8, 4, 2, 2), (x,), {}),
        (torch.nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1, dilation=1), (x,), {}),
        (torch.nn.ConvTranspose1d(8, 4, 4, 3, 2), (x[:, :, 0],), {}),
    ]
    for module, args, kwargs in cases:
        meta = tuple(a.to("meta") for a in args)
        assert _shape_only(module, meta, kwargs).shape == module(*args, **kwargs).shape
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    q = torch.randn(2, 6, 8)
    got, weights = _shape_only(mha, (q.to("meta"),) * 3, {"need_weights": False})
    assert got.shape == mha(q, q, q, need_weights=False)[0].shape and weights is None
    a, b = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    assert _concat_only(([a.to("meta"), b.to("meta")], 1), {}).shape == torch.cat([a, b], 1).shape
    assert (
        _concat_only(([a.to("meta"), a.to("meta")],), {"dim": -1}).shape
        == torch.cat([a, a], -1).shape
    )
    assert _concat_only(([a.to("meta"), b.to("meta")], 2), {}) is None  # mismatched: left to torch


class _StandardizedConv2d(torch.nn.Conv2d):
    """A conv whose kernel is standardized on every call (timm's StdConv2d, BiT, NFNets)."""

    def forward(self, x):
        w = torch.nn.functional.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, training=True, eps=1e-6
        ).reshape_as(self.weight)
        return torch.nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


def _standardized(model: torch.nn.Module) -> torch.nn.Module:
    for name, child in model.named_children():
        if type(child) is torch.nn.Conv2d:
            new = _StandardizedConv2d(
                child.in_channels,
                child.out_channels,
                child.kernel_size,
                child.stride,
                child.padding,
                bias=child.bias is not None,
            )
            setattr(model, name, new)
        else:
            _standardized(child)
    return model


def test_a_conv_with_a_kernel_computed_from_its_weight_is_one_layer():
    from tapfinder import select_points

    x = torch.randn(2, 3, 32, 32)
    plain, standardized = TinyResNet(), _standardized(TinyResNet())
    assert any(isinstance(m, _StandardizedConv2d) for m in standardized.modules())
    a, b = select_points(plain, x), select_points(standardized, x)
    assert b.method == "fx" and b.depth == a.depth and b.names == a.names
