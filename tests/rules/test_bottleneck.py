from tapfinder.rules.bottleneck import analyze
from tests.graphs import build, context


def test_narrow_point_between_wide_ones():
    G = build(
        [
            ("x", "input", (2, 64, 8, 8), []),
            ("squeeze", "conv", (2, 16, 8, 8), ["x"]),
            ("act", "act", (2, 16, 8, 8), ["squeeze"], "relu"),
            ("expand", "conv", (2, 64, 8, 8), ["act"]),
        ]
    )
    found = analyze(G, context(G))
    assert [f.node for f in found] == ["act"]  # the last node of the narrow run
    assert "16×8×8" in found[0].reason


def test_monotone_widening_has_no_bottleneck():
    G = build(
        [
            ("x", "input", (2, 8, 8, 8), []),
            ("a", "conv", (2, 16, 8, 8), ["x"]),
            ("b", "conv", (2, 32, 8, 8), ["a"]),
        ]
    )
    assert analyze(G, context(G)) == []
