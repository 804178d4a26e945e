from tapfinder.rules.skip_fusion import analyze
from tests.graphs import build, context, residual_net, unet_net


def test_residual_adds_are_fusion_points():
    G = residual_net()
    assert {f.node for f in analyze(G, context(G))} == {"b1.add", "b2.add"}


def test_encoder_decoder_skip_source():
    G = unet_net()
    found = {f.node: f.reason for f in analyze(G, context(G))}
    assert (
        "encoder-decoder skip source" in found["enc1"]
        and "encoder-decoder skip source" in found["enc2"]
    )
    assert found["cat1"].startswith("concatenation fuses 2")


def test_squeeze_excitation_gate_is_not_a_long_skip():
    S = (2, 8, 8, 8)
    G = build(
        [
            ("x", "input", S, []),
            ("c", "conv", S, ["x"]),
            ("gap", "pool", (2, 8, 1, 1), ["c"]),
            ("fc", "conv", (2, 8, 1, 1), ["gap"]),
            ("gate", "mul", S, ["c", "fc"]),
        ]
    )
    assert not any("skip source" in f.reason for f in analyze(G, context(G)))


def test_a_block_that_pools_only_its_attention_weights_is_no_long_skip():
    """VOLO's outlook attention pools the map to compute its attention weights, but its values stay
    at full size: a path at the block's resolution joins the residual add, so the block input is a
    residual input. A gated UNet skip (attention UNet) beside a branch that did go down is still
    one."""
    H, L = (2, 8, 16, 16), (2, 8, 8, 8)
    outlook = build(
        [
            ("x", "input", H, []),
            ("norm", "norm", H, ["x"]),
            ("v", "conv", H, ["norm"]),
            ("pooled", "pool", L, ["norm"]),
            ("attn", "conv", L, ["pooled"]),
            ("up", "upsample", H, ["attn"]),
            ("mix", "mul", H, ["v", "up"]),
            ("proj", "conv", H, ["mix"]),
            ("add", "add", H, ["x", "proj"]),
            ("out", "conv", H, ["add"]),
        ]
    )
    assert not any("skip source" in f.reason for f in analyze(outlook, context(outlook)))
    gated = build(
        [
            ("x", "input", H, []),
            ("enc", "conv", H, ["x"]),
            ("down", "pool", L, ["enc"]),
            ("mid", "conv", L, ["down"]),
            ("up", "upsample", H, ["mid"]),
            ("gate", "conv", H, ["up"]),
            ("gated", "mul", H, ["enc", "gate"]),
            ("cat", "cat", (2, 16, 16, 16), ["gated", "up"]),
            ("out", "conv", H, ["cat"]),
        ]
    )
    assert (
        "encoder-decoder skip source"
        in {f.node: f.reason for f in analyze(gated, context(gated))}["enc"]
    )


def test_a_transformers_residual_stream_is_no_long_skip():
    """Sequence-first attention (fairseq, DETR, nn.MultiheadAttention inside) moves the batch axis:
    (B, T, C) → (T, B, C). Those nodes are no lower resolution, so the block outputs are residual
    inputs, not encoder-decoder skip sources."""
    import torch
    from torch import nn

    from tapfinder import select_points

    class Block(nn.Module):
        def __init__(self, c=16):
            super().__init__()
            self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
            self.mlp = nn.Sequential(nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c))

        def forward(self, x):
            q, k, v = self.qkv(x.transpose(0, 1)).chunk(3, dim=-1)  # (T, B, C) each
            att = torch.softmax(q.transpose(0, 1) @ k.permute(1, 2, 0) / 4.0, dim=-1)
            x = x + self.proj(att @ v.transpose(0, 1))
            return x + self.mlp(x)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*(Block() for _ in range(4)))

        def forward(self, x):
            return self.blocks(x).mean(1)

    for batch in (1, 2, 5):
        sel = select_points(Encoder(), torch.zeros(batch, 7, 16))
        assert not any("skip source" in reason for c in sel.candidates for reason in c.reasons), (
            batch
        )
        moved = [
            n
            for n, d in sel.graph.nodes(data=True)
            if d["tf"].op == "linear" and d["tf"].shape[0] == 7
        ]
        assert len(moved) == 4 and all(sel.graph.nodes[n]["tf"].spatial is None for n in moved)
