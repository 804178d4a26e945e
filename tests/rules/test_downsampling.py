from tapfinder.rules import Kind
from tapfinder.rules.downsampling import analyze
from tests.graphs import build, context, residual_net


def test_before_and_after_a_strided_conv():
    G = residual_net()
    found = {(f.node, f.reason.split(" ")[0]) for f in analyze(G, context(G))}
    assert ("b2.add", "before") in found
    assert ("down", "after") in found


def test_global_pooling_is_not_downsampling():
    G = residual_net()
    assert not any(f.node == "pool" or "1×1" in f.reason for f in analyze(G, context(G)))


def test_layout_change_is_not_a_resolution_drop():
    # NCHW -> NHWC permute: the trailing dims change but the resolution does not
    G = build(
        [
            ("x", "input", (2, 8, 14, 14), []),
            ("p", "permute", (2, 14, 14, 8), ["x"]),
            ("n", "norm", (2, 14, 14, 8), ["p"], "layer_norm"),
            ("fc", "linear", (2, 14, 14, 16), ["n"]),
        ]
    )
    assert analyze(G, context(G)) == []


def test_strided_conv_inside_a_block_points_at_the_block_input():
    S, D = (2, 8, 16, 16), (2, 16, 8, 8)
    G = build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("stage1", "conv", S, ["x"]),
            ("blk.conv1", "conv", S, ["stage1"]),
            ("blk.relu", "act", S, ["blk.conv1"], "relu"),
            ("blk.conv2", "conv", D, ["blk.relu"]),
            ("blk.short", "conv", D, ["stage1"]),
            ("blk.add", "add", D, ["blk.conv2", "blk.short"]),
        ],
        outputs_of={
            n: ["blk"] for n in ("blk.conv1", "blk.relu", "blk.conv2", "blk.short", "blk.add")
        },
        children={"blk": ["blk.conv1", "blk.conv2", "blk.short"]},
        weights={"blk": 3},
    )
    before = {f.node for f in analyze(G, context(G)) if f.kind is Kind.BEFORE_DROP}
    assert {"blk.relu", "stage1"} <= before


def test_upsampling_is_reported_as_weaker_evidence():
    G = build(
        [
            ("x", "input", (2, 8, 8, 8), []),
            ("up", "upsample", (2, 8, 16, 16), ["x"], "ConvTranspose2d"),
        ]
    )
    [f] = analyze(G, context(G))
    assert f.node == "x" and f.reason.startswith("before upsampling") and f.weight < 2


def _embedded_nhwc(nodes: list):
    """A 4×4 patch embedding of a 16×16 image, moved channels last as Swin does, then ``nodes``."""
    return build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("embed", "conv", (2, 8, 4, 4), ["x"]),
            ("nhwc", "permute", (2, 4, 4, 8), ["embed"]),
            *nodes,
        ]
    )


def test_swin_patch_merging_is_a_drop():
    # [B, H, W, C] → [B, H/2, 2, W/2, 2, C] → permute → [B, H/2, W/2, 4C] → LayerNorm → Linear to
    # 2C:
    # the folded tensors have no layout, so the drop is found up the chain of reshapes
    G = _embedded_nhwc(
        [
            ("stage1", "linear", (2, 4, 4, 8), ["nhwc"]),
            ("merge.view", "reshape", (2, 2, 2, 2, 2, 8), ["stage1"]),
            ("merge.permute", "permute", (2, 2, 2, 2, 2, 8), ["merge.view"]),
            ("merge.flatten", "reshape", (2, 2, 2, 32), ["merge.permute"]),
            ("merge.norm", "norm", (2, 2, 2, 32), ["merge.flatten"], "layer_norm"),
            ("merge", "linear", (2, 2, 2, 16), ["merge.norm"]),
        ]
    )
    found = {(f.node, f.reason) for f in analyze(G, context(G))}
    assert ("stage1", "before downsampling 4×4 → 2×2 (at merge)") in found
    assert ("merge", "after downsampling 4×4 → 2×2 at merge") in found


def test_a_fold_without_a_drop_is_not_one():
    # a token mixer that folds and unfolds at the same resolution (window partition and reverse)
    G = _embedded_nhwc(
        [
            ("win", "reshape", (2, 2, 2, 2, 2, 8), ["nhwc"]),
            ("flat", "reshape", (2, 4, 4, 8), ["win"]),
            ("norm", "norm", (2, 4, 4, 8), ["flat"], "layer_norm"),
            ("fc", "linear", (2, 4, 4, 8), ["norm"]),
        ]
    )
    assert all(
        f.reason.endswith(("at embed", "(at embed)")) for f in analyze(G, context(G))
    )  # the patch embedding's only


def test_another_arrangement_of_the_same_rank_is_no_drop():
    # Hiera-style mask units: a 32×4 arrangement of tokens and a 4×8 map share a rank, not a grid:
    # 4 is no whole multiple of 8, so reaching [B, 4, 8, C] from it is no merge
    G = build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("embed", "conv", (2, 8, 16, 8), ["x"]),
            ("units", "reshape", (2, 8, 32, 4), ["embed"]),
            ("flat", "reshape", (2, 4, 8, 64), ["units"]),
            ("fc", "linear", (2, 4, 8, 16), ["flat"]),
        ]
    )
    assert G.nodes["flat"]["tf"].layout is None and G.nodes["fc"]["tf"].spatial == (4, 8)
    assert all("at fc" not in f.reason for f in analyze(G, context(G)))


def test_attention_over_split_heads_is_no_map():
    # Hiera's attention: qkv split into 4 heads, [B, heads, T, d] into scaled_dot_product_attention,
    # heads merged back to [B, H, W, C]. Heads × tokens is no grid, so the merge is no 16×4 → 4×4
    # drop
    G = _embedded_nhwc(
        [
            ("qkv", "linear", (2, 4, 4, 24), ["nhwc"]),
            ("qkv.split", "reshape", (2, 16, 3, 4, 2), ["qkv"]),
            ("q", "permute", (2, 4, 16, 2), ["qkv.split"]),
            ("sdpa", "attention", (2, 4, 16, 2), ["q"], "scaled_dot_product_attention"),
            ("merge", "permute", (2, 16, 4, 2), ["sdpa"]),
            ("flat", "reshape", (2, 4, 4, 8), ["merge"]),
            ("proj", "linear", (2, 4, 4, 8), ["flat"]),
        ]
    )
    assert G.nodes["sdpa"]["tf"].layout is None and G.nodes["proj"]["tf"].spatial == (4, 4)
    assert all(f.reason.endswith(("at embed", "(at embed)")) for f in analyze(G, context(G)))


def test_a_drop_in_a_side_branch_the_block_leaves_at_full_size_is_none():
    # SegFormer's attention reads keys and values off a reduced map (VOLO pools its
    # attention weights); the block's output keeps 16×16, so its input is no stage's end
    G = build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("stem", "conv", (2, 8, 16, 16), ["x"]),
            ("sr", "conv", (2, 8, 8, 8), ["stem"]),
            ("kv", "reshape", (2, 64, 8), ["sr"]),
            ("q", "reshape", (2, 256, 8), ["stem"]),
            ("attn", "attention", (2, 256, 8), ["q", "kv"], "scaled_dot_product_attention"),
            ("back", "reshape", (2, 8, 16, 16), ["attn"]),
            ("add", "add", (2, 8, 16, 16), ["stem", "back"]),
            ("down", "conv", (2, 16, 8, 8), ["add"]),
            ("head", "conv", (2, 16, 8, 8), ["down"]),
        ]
    )
    found = analyze(G, context(G))
    assert {f.node for f in found if f.kind is Kind.BEFORE_DROP} == {"add"}
    assert not any("sr" in f.reason.split() or f.node == "sr" for f in found)


def test_a_token_block_with_reduced_keys_ends_its_stage_at_its_own_output():
    # PVT and Twins: the block runs on tokens (B, N, C) and reads keys and values off a map reduced
    # 8×8 → 2×2; its output is N = 64 tokens again, so that drop is none. The next patch embedding
    # drops 8×8 → 4×4 after the tokens are rearranged into a map: the stage ends at the block itself
    G = build(
        [
            ("x", "input", (2, 3, 8, 8), []),
            ("embed", "conv", (2, 8, 8, 8), ["x"]),
            ("tokens", "reshape", (2, 64, 8), ["embed"]),
            ("norm", "norm", (2, 64, 8), ["tokens"]),
            ("map", "reshape", (2, 8, 8, 8), ["norm"]),
            ("sr", "conv", (2, 8, 2, 2), ["map"]),
            ("kv", "reshape", (2, 4, 8), ["sr"]),
            ("attn", "attention", (2, 64, 8), ["norm", "kv"], "scaled_dot_product_attention"),
            ("block", "add", (2, 64, 8), ["tokens", "attn"]),
            ("grid", "reshape", (2, 8, 8, 8), ["block"]),
            ("chw", "permute", (2, 8, 8, 8), ["grid"]),
            ("down", "conv", (2, 16, 4, 4), ["chw"]),
            ("head", "conv", (2, 16, 4, 4), ["down"]),
        ]
    )
    found = analyze(G, context(G))
    assert "block" in {f.node for f in found if f.kind is Kind.BEFORE_DROP}
    assert not any(f.node == "sr" or "(at sr)" in f.reason for f in found)


def test_a_decoder_that_upsamples_back_keeps_every_encoder_drop():
    import torch

    from tapfinder import select_points
    from tests.assets.models import TinyUNet

    sel = select_points(TinyUNet(), torch.randn(2, 3, 32, 32))
    before = {
        c.name
        for c in sel.candidates
        if any(r.startswith("before downsampling") for r in c.reasons)
    }
    assert {"enc1", "enc2"} <= before


def test_a_pooled_gate_upsampled_back_onto_the_map_is_no_drop():
    # GhostNetV2's DFC attention: pool the block input, convolve, sigmoid, upsample the weights
    # back and multiply the full-size features; the block leaves at 16×16, so its input ends nothing
    G = build(
        [
            ("x", "input", (2, 3, 16, 16), []),
            ("stem", "conv", (2, 8, 16, 16), ["x"]),
            ("pool", "pool", (2, 8, 8, 8), ["stem"], "avg_pool2d"),
            ("short", "conv", (2, 8, 8, 8), ["pool"]),
            ("gate", "act", (2, 8, 8, 8), ["short"], "Sigmoid"),
            ("up", "upsample", (2, 8, 16, 16), ["gate"], "interpolate"),
            ("primary", "conv", (2, 8, 16, 16), ["stem"]),
            ("mul", "mul", (2, 8, 16, 16), ["primary", "up"]),
            ("add", "add", (2, 8, 16, 16), ["stem", "mul"]),
            ("down", "conv", (2, 16, 8, 8), ["add"]),
            ("head", "conv", (2, 16, 8, 8), ["down"]),
        ]
    )
    found = analyze(G, context(G))
    assert {f.node for f in found if f.kind is Kind.BEFORE_DROP} == {"add"}
    assert not any("(at pool" in f.reason or f.node == "pool" for f in found)
