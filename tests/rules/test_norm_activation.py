from tapfinder.rules.norm_activation import analyze
from tests.graphs import build, context

S = (2, 8, 8, 8)


def test_activation_change_marks_the_entry():
    G = build(
        [
            ("x", "input", S, []),
            ("c1", "conv", S, ["x"]),
            ("a1", "act", S, ["c1"], "ReLU"),
            ("c2", "conv", S, ["a1"]),
            ("a2", "act", S, ["c2"], "relu_"),
            ("c3", "conv", S, ["a2"]),
            ("a3", "act", S, ["c3"], "Hardswish"),
        ]
    )
    [f] = analyze(G, context(G))
    assert f.node == "c3" and "relu → hardswish" in f.reason


def test_same_family_spelled_differently_is_no_change():
    G = build(
        [
            ("x", "input", S, []),
            ("n1", "norm", S, ["x"], "BatchNorm2d"),
            ("n2", "norm", S, ["n1"], "batch_norm"),
        ]
    )
    assert analyze(G, context(G)) == []
