from tapfinder.rules.skip_fusion import analyze
from tests.graphs import build, context, residual_net, unet_net


def test_residual_adds_are_fusion_points():
    G = residual_net()
    assert {f.node for f in analyze(G, context(G))} == {"b1.add", "b2.add"}


def test_encoder_decoder_skip_source():
    G = unet_net()
    found = {f.node: f.reason for f in analyze(G, context(G))}
    assert "encoder-decoder skip source" in found["enc1"] and "encoder-decoder skip source" in found["enc2"]
    assert found["cat1"].startswith("concatenation fuses 2")


def test_squeeze_excitation_gate_is_not_a_long_skip():
    S = (2, 8, 8, 8)
    G = build([
        ("x", "input", S, []),
        ("c", "conv", S, ["x"]),
        ("gap", "pool", (2, 8, 1, 1), ["c"]),
        ("fc", "conv", (2, 8, 1, 1), ["gap"]),
        ("gate", "mul", S, ["c", "fc"]),
    ])
    assert not any("skip source" in f.reason for f in analyze(G, context(G)))
