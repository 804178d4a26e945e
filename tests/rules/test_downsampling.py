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
    G = build([
        ("x", "input", (2, 8, 14, 14), []),
        ("p", "permute", (2, 14, 14, 8), ["x"]),
        ("n", "norm", (2, 14, 14, 8), ["p"], "layer_norm"),
        ("fc", "linear", (2, 14, 14, 16), ["n"]),
    ])
    assert analyze(G, context(G)) == []


def test_strided_conv_inside_a_block_points_at_the_block_input():
    S, D = (2, 8, 16, 16), (2, 16, 8, 8)
    G = build([
        ("x", "input", (2, 3, 16, 16), []),
        ("stage1", "conv", S, ["x"]),
        ("blk.conv1", "conv", S, ["stage1"]),
        ("blk.relu", "act", S, ["blk.conv1"], "relu"),
        ("blk.conv2", "conv", D, ["blk.relu"]),
        ("blk.short", "conv", D, ["stage1"]),
        ("blk.add", "add", D, ["blk.conv2", "blk.short"]),
    ], outputs_of={n: ["blk"] for n in ("blk.conv1", "blk.relu", "blk.conv2", "blk.short", "blk.add")},
        children={"blk": ["blk.conv1", "blk.conv2", "blk.short"]}, weights={"blk": 3})
    before = {f.node for f in analyze(G, context(G)) if f.tag == "before_drop"}
    assert {"blk.relu", "stage1"} <= before


def test_upsampling_is_reported_as_weaker_evidence():
    G = build([
        ("x", "input", (2, 8, 8, 8), []),
        ("up", "upsample", (2, 8, 16, 16), ["x"], "ConvTranspose2d"),
    ])
    [f] = analyze(G, context(G))
    assert f.node == "x" and f.reason.startswith("before upsampling") and f.weight < 2
