"""The tail of a plain net: its deepest whole-signal module output within the window, and only in
a plain net (no normalization, nothing passing a weighted layer)."""

import pytest
import torch

from tapfinder import select_points
from tapfinder.depth import OUTPUT_FRAC
from tapfinder.models import get_model
from tapfinder.rules.plain_tail import analyze
from tapfinder.selector import PLAIN_NOTE
from tests.assets.models import Plain1D
from tests.graphs import build, context, residual_net


def _plain(depth: int, norm: bool = False):
    """``depth`` convs, each with its ReLU (and a BatchNorm where ``norm``), pooled, a linear."""
    S = (2, 8, 16, 16)
    nodes, outputs_of, last = [("x", "input", (2, 3, 16, 16), [])], {}, "x"
    for i in range(depth):
        nodes.append((f"c{i}", "conv", S, [last]))
        last = f"c{i}"
        if norm:
            nodes.append((f"n{i}", "norm", S, [last], "batchnorm2d"))
            last = f"n{i}"
        nodes.append((f"r{i}", "act", S, [last], "relu"))
        last = f"r{i}"
        outputs_of[last] = (f"block{i}",)
    nodes += [("pool", "pool", (2, 8, 1, 1), [last]), ("flat", "reshape", (2, 8), ["pool"])]
    nodes.append(("fc", "linear", (2, 10), ["flat"]))
    return build(nodes, outputs_of=outputs_of)


def test_the_tail_of_a_plain_net_begins_at_the_deepest_block_within_the_window():
    G = _plain(19)  # D = 20: within 85 % of it, depth 17 at most
    ctx = context(G)
    assert ctx.plain
    [found] = analyze(G, ctx)
    assert found.node == "r16" and ctx.depth["r16"] == 17 and "3 weighted layers" in found.reason


@pytest.mark.parametrize("graph", [_plain(19, norm=True), residual_net()], ids=["norm", "residual"])
def test_a_net_that_normalizes_or_passes_a_layer_by_is_not_plain(graph):
    ctx = context(graph)
    assert not ctx.plain and analyze(graph, ctx) == []


def test_a_deep_plain_net_is_also_tapped_at_its_tail_and_its_normalized_twin_is_not():
    """plain2d40 (40 convs, drops at 1/3 and 2/3): its stage points leave 15 layers to the main
    head alone; the tail point leaves 7 (the evidence: docs/selection.md, "Plain nets")."""
    x = torch.randn(2, 1, 28, 28)
    plain = select_points(get_model("plain2d40", num_classes=10)[0], x)
    assert plain.names == ["features.12", "features.25", "features.33"]
    assert "plain_tail" in plain.points[-1].rules
    assert plain.depth - plain.points[-1].depth <= (1 - OUTPUT_FRAC) * plain.depth + 1
    normed = select_points(get_model("plain2d40_bn", num_classes=10)[0], x)
    assert normed.names == ["features.12", "features.25"]
    assert PLAIN_NOTE in plain.notes and PLAIN_NOTE not in normed.notes  # the caveat, plain only
    # a count or names asked for are what the user gets
    assert len(select_points(get_model("plain2d40", num_classes=10)[0], x, points=2).points) == 2


def test_a_plain_net_whose_points_leave_a_short_tail_gets_no_tail_point():
    """plain1d34 (He et al.'s uneven stages): its last drop leaves 7 of 34 layers, no tail point;
    a plain net too shallow for two points gets none either."""
    sel = select_points(get_model("plain1d34", num_classes=10)[0], torch.randn(2, 1, 40))
    assert sel.names == ["features.14", "features.26"]
    shallow = select_points(Plain1D(depth=10), torch.randn(2, 1, 64))
    assert not any("plain_tail" in p.rules for p in shallow.points)
