"""Property test: random stacks of residual, multi-branch and downsampling blocks always get a valid
selection: every point carries the whole signal (checked by cutting it out of the graph,
independently of the dominance code), points are spread (distinct depths, inside the window) and
counted as promised."""

import networkx as nx
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tapfinder import select_points
from tapfinder.selector import auto_count
from tests.assets.models import Block, Inception


class _Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class _Plain(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return torch.relu(self.conv(x))


_KINDS = {
    "res": lambda c: Block(c, c),
    "res_down": lambda c: Block(c, c, 2),
    "branch": Inception,
    "down": _Down,
    "plain": _Plain,
}


class _Stack(nn.Module):
    def __init__(self, kinds):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(*[_KINDS[k](8) for k in kinds])
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean((2, 3)))


def _carries_whole_signal(G, node):
    H = G.copy()
    H.remove_node(node)
    return not any(nx.has_path(H, i, G.graph["outputs"][0]) for i in G.graph["inputs"] if i in H)


@settings(max_examples=30, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(_KINDS)), min_size=2, max_size=14),
    points=st.one_of(st.just("auto"), st.integers(1, 6)),
)
def test_random_stacks_get_valid_selections(kinds, points):
    downs = sum(k in ("res_down", "down") for k in kinds)
    x = torch.randn(2, 3, 2 ** min(downs + 2, 8), 2 ** min(downs + 2, 8))
    sel = select_points(_Stack(kinds), x, points=points)
    places = {c.depth for c in sel.candidates if c.eligible}
    wanted = auto_count(sel.depth) if points == "auto" else points
    assert sel.m == min(wanted, len(places))
    depths = [p.depth for p in sel.points]
    assert depths == sorted(depths) and len(set(depths)) == len(depths)
    low, high = sel.window
    for p in sel.points:
        assert _carries_whole_signal(sel.graph, p.name), p.name
        assert low - 1e-6 <= p.depth_frac <= high + 1e-6
        assert p.score > 0 and p.reasons
    # a residual or multi-branch block's inside is listed but never chosen
    for c in sel.candidates:
        if not _carries_whole_signal(sel.graph, c.name):
            assert not c.whole_signal and not c.eligible
