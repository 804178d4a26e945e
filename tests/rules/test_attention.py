from tapfinder.rules.attention import analyze
from tests.graphs import build, context

T = (2, 10, 16)


def _hand_written(with_softmax_between_matmuls=True):
    mid = (
        [("soft", "softmax", (2, 10, 10), ["scale"])]
        if with_softmax_between_matmuls
        else [("soft", "act", (2, 10, 10), ["scale"], "relu")]
    )
    return build(
        [
            ("x", "input", T, []),
            ("norm", "norm", T, ["x"], "LayerNorm"),
            ("q", "linear", T, ["norm"]),
            ("k", "linear", T, ["norm"]),
            ("v", "linear", T, ["norm"]),
            ("kt", "permute", (2, 16, 10), ["k"]),
            ("qk", "matmul", (2, 10, 10), ["q", "kt"]),
            ("scale", "mul", (2, 10, 10), ["qk"]),
            *mid,
            ("av", "matmul", T, ["soft", "v"]),
            ("proj", "linear", T, ["av"]),
            ("add", "add", T, ["x", "proj"]),
        ]
    )


def test_hand_written_softmax_qk_v():
    G = _hand_written()
    found = {(f.node, f.reason.split(" (")[0]) for f in analyze(G, context(G))}
    assert ("norm", "before attention") in found
    assert any(r == "after attention" for _, r in found)


def test_softmax_without_matmuls_is_not_attention():
    G = _hand_written(with_softmax_between_matmuls=False)
    assert analyze(G, context(G)) == []


def test_attention_op():
    G = build(
        [
            ("x", "input", T, []),
            ("sdpa", "attention", T, ["x"], "scaled_dot_product_attention"),
            ("out", "linear", T, ["sdpa"]),
        ]
    )
    found = {f.reason.split(" (")[0]: f.node for f in analyze(G, context(G))}
    assert found["before attention"] == "x"
    assert found["after attention"] == "out"
