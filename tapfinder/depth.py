"""Depth: how many weighted layers (convs, linears, embeddings, attention) the signal has crossed.

A node's depth is the largest number of weighted nodes on any path from an input to it, itself
included; the model's depth D is its main output's (a torchvision ResNet-50 has D = 50).

>>> import networkx as nx
>>> from tapfinder.graph import NodeInfo
>>> G = nx.DiGraph([("x", "c1"), ("c1", "r"), ("r", "c2"), ("c1", "c2")])
>>> for n, w in {"x": False, "c1": True, "r": False, "c2": True}.items():
...     G.nodes[n]["tf"] = NodeInfo(weighted=w)
>>> node_depths(G)
{'x': 0, 'c1': 1, 'r': 1, 'c2': 2}
"""

from __future__ import annotations

import networkx as nx

__all__ = ["node_depths", "STEM_FRAC", "OUTPUT_FRAC"]

# the window of depth, as fractions of D, where tap points may sit (the selector's, and the
# plain-tail rule's deepest point)
STEM_FRAC, OUTPUT_FRAC = 0.05, 0.85


def node_depths(G: nx.DiGraph) -> dict:
    """Longest-path depth of every node, counted in weighted nodes (see module docstring)."""
    depth: dict = {}
    for n in nx.topological_sort(G):
        before = max((depth[p] for p in G.predecessors(n)), default=0)
        depth[n] = before + (1 if G.nodes[n]["tf"].weighted else 0)
    return depth
