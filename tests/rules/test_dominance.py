from tapfinder.dominance import decoder_stages, dense_output, whole_signal
from tapfinder.rules import get_analyzers, is_registered
from tests.graphs import build, context, residual_net, unet_net


def test_branch_nodes_are_not_whole_signal():
    G = residual_net()
    whole = whole_signal(G)
    assert {"c1", "b1.add", "b2.add", "down", "fc"} <= whole
    assert not {"b1.conv", "b2.conv"} & whole


def test_parameter_only_branch_does_not_break_dominance():
    # a class token (no input ancestry) concatenated to the patches
    T = (2, 5, 8)
    G = build(
        [
            ("x", "input", (2, 3, 8, 8), []),
            ("embed", "conv", (2, 8, 2, 2), ["x"]),
            ("tokens", "reshape", (2, 4, 8), ["embed"]),
            ("cls", "reshape", (2, 1, 8), []),
            ("cat", "cat", T, ["cls", "tokens"]),
            ("fc", "linear", (2, 5, 10), ["cat"]),
        ]
    )
    assert {"embed", "tokens", "cat"} <= whole_signal(G)
    assert "cls" not in context(G).idom


def test_every_rule_is_registered():
    assert set(get_analyzers()) == {
        "attention",
        "bottleneck",
        "downsampling",
        "norm_activation",
        "plain_tail",
        "skip_fusion",
        "stage_boundary",
    }
    assert is_registered("downsampling") and not is_registered("nope")


def test_decoder_stages_of_a_dense_encoder_decoder():
    G = unet_net([("out", "conv", (2, 3, 16, 16), ["dec1"])])
    ctx = context(G)
    assert dense_output(G) and set(ctx.skips) == {"enc1", "enc2"}
    assert {"up2", "cat2", "dec2", "up1", "cat1", "dec1"} == set(ctx.decoder)
    assert not {"dec2", "mid"} & set(ctx.whole)  # the long skips bypass them
    assert ctx.sees_whole("dec2") and not ctx.sees_whole(
        "mid"
    )  # the coarsest level itself is no decoder stage


def test_no_decoder_stages_without_a_dense_output():
    G = unet_net([("gap", "pool", (2, 8, 1, 1), ["dec1"]), ("fc", "linear", (2, 10), ["gap"])])
    assert not dense_output(G) and not context(G).decoder
    assert not decoder_stages(residual_net(), context(residual_net()).idom, {})
