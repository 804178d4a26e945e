"""Whole-signal analysis: which nodes carry the entire signal, found by graph dominance.

A node carries the whole signal when every path from the inputs to the main output passes through
it (it dominates the output; a virtual source feeds every input). The exceptions the papers ask
for, encoder-decoder skip sources and the decoder stages of a dense output, are found here too;
``docs/rules.md`` says why and names the test that pins each.

>>> G = nx.DiGraph([("x", "a"), ("a", "b1"), ("a", "b2"), ("b1", "add"), ("b2", "add")])
>>> G.graph.update(inputs=["x"], outputs=["add"])
>>> sorted(whole_signal(G))
['a', 'add', 'x']
"""

from __future__ import annotations

import networkx as nx

from .graph import NodeInfo, spatial_size

__all__ = ["whole_signal", "immediate_dominators", "skip_sources", "dense_output", "decoder_stages"]

_SOURCE, _SINK = "\x00source", "\x00sink"


def immediate_dominators(G: nx.DiGraph) -> dict:
    """Immediate dominators from a virtual source that feeds every input of ``G``.

    Nodes not reachable from the inputs (parameter-only branches such as a class token) are absent.
    The inputs' own immediate dominator is the virtual source, which is left out of the result.
    """
    H = nx.DiGraph(G.edges)
    H.add_nodes_from(G.nodes)
    H.add_edges_from((_SOURCE, n) for n in G.graph["inputs"])
    idom = nx.immediate_dominators(H, _SOURCE)
    return {n: (None if d == _SOURCE else d) for n, d in idom.items() if n != _SOURCE}


def whole_signal(G: nx.DiGraph, idom: dict | None = None) -> set:
    """Nodes that dominate the main output (``G.graph["outputs"][0]``): the chain every path passes.

    An output that fuses exits of several depths (EfficientViM sums the logits of a head on every
    stage; the exits are vectors, which tells them from a last residual add of maps) is dominated
    by nothing past the first exit; there the deepest exit, the input of the fusion with the longest
    dominator chain, stands for the output: the trunk that feeds it.
    """
    idom = immediate_dominators(G) if idom is None else idom
    outputs = G.graph.get("outputs") or []
    node = outputs[0] if outputs else None
    chain = _dominator_chain(idom, node)
    while node is not None and node in idom:  # back to the output's fusion of exits, if it has one
        preds = [p for p in G.predecessors(node) if p in idom]
        if len(preds) >= 2:
            records = {n: G.nodes[n].get("tf", NodeInfo()) for n in (node, *preds)}
            exits_are_vectors = not any(
                records[p].spatial for p in preds
            )  # exits: vectors, not maps
            if records[node].op in ("add", "cat") and exits_are_vectors:
                exits = sorted((_dominator_chain(idom, p) for p in preds), key=len)
                deepest = len(exits[-1]) > max(len(exits[-2]), len(chain))
                # exits branch off one trunk; branches of separate inputs share only the inputs
                one_trunk = bool(exits[-2] & exits[-1] - set(G.graph.get("inputs") or ()))
                if deepest and one_trunk:
                    chain |= exits[-1]
            break
        node = preds[0] if preds else None
    return chain


def _dominator_chain(idom: dict, node) -> set:
    chain = set()
    while node is not None and node in idom:
        chain.add(node)
        node = idom[node]
    return chain


def skip_sources(G: nx.DiGraph, idom: dict) -> dict:
    """Encoder-decoder skip sources: ``{source: fusion node}`` for every long skip of ``G``.

    For each add or concat ``m`` of two or more reachable inputs whose immediate dominator ``d`` has
    the same resolution, each input of ``m`` other than ``d`` is walked back towards ``d``; if every
    way back passes a node of lower resolution (but not a globally pooled 1×1 one, as in
    squeeze-excitation), that branch went down and came back up, so ``d`` feeds a long skip. In
    pyramid decoders (FPN, SegFormer) each coarser level reaches ``m`` through an upsampling chain;
    where that chain leaves the encoder is a skip source too.
    """
    found: dict = {}
    for d, m in _long_skips(G, idom):
        found.setdefault(d, m)
    return found


def _long_skips(G: nx.DiGraph, idom: dict):
    """Every (skip source, fusion node) pair of ``G``, in graph order: a source may be fused more
    than once (an attention gate's add, then the decoder's concatenation)."""
    for m in G.nodes:
        preds = [p for p in G.predecessors(m) if p in idom]
        d = idom.get(m)
        if len(preds) < 2 or d is None or G.nodes[m]["tf"].op not in ("add", "cat"):
            continue
        size_m, size_d = spatial_size(G.nodes[m]["tf"]), spatial_size(G.nodes[d]["tf"])
        if size_m is None or size_m != size_d or size_m <= 1:
            continue
        if any(p != d and _cut_below(G, idom, d, p, size_m) for p in preds):
            yield d, m
        for p in preds:  # pyramid decoders (FPN, SegFormer): a coarser level upsampled into m
            source = _upsampled_source(G, idom, p)
            if source is not None and (spatial_size(G.nodes[source]["tf"]) or size_m) < size_m:
                yield source, m


def _cut_below(G: nx.DiGraph, idom: dict, d, start, size: int) -> bool:
    """Whether every path from ``d`` to ``start`` passes a node below ``size`` (and above 1×1:
    global pooling, as in squeeze-excitation, is no level): the branch went down and came back up.
    """
    seen, stack = set(), [start]
    while stack:
        n = stack.pop()
        if n == d:
            return False
        if n in seen:
            continue
        seen.add(n)
        here = spatial_size(G.nodes[n]["tf"])
        if here and 1 < here < size:
            continue
        stack.extend(p for p in G.predecessors(n) if p in idom)
    return True


def dense_output(G: nx.DiGraph) -> bool:
    """Whether the main output is a map at an input's resolution (segmentation, depth,
    denoising)."""
    outputs, inputs = G.graph.get("outputs") or [], G.graph.get("inputs") or []
    if not outputs:
        return False
    size = spatial_size(G.nodes[outputs[0]]["tf"])
    return bool(size and size > 1 and any(spatial_size(G.nodes[i]["tf"]) == size for i in inputs))


def decoder_stages(G: nx.DiGraph, idom: dict, skips: dict) -> set:
    """Decoder nodes of an encoder-decoder with a dense output (empty otherwise; see the module
    doc).

    Each long skip's own branch into its fusion node is cut; the whole-signal chain of what is left
    runs down the encoder, through the coarsest level and up the decoder. Its nodes after the
    coarsest one, short of the output, are the decoder stages.
    """
    if not skips or not dense_output(G):
        return set()
    H = nx.DiGraph(G.edges)
    H.add_nodes_from(G.nodes)
    H.graph.update(G.graph)
    for d, m in _long_skips(G, idom):  # every fusion of a skip: a gated skip is fused twice
        if d not in skips or idom.get(m) != d:  # pyramid laterals: no decoder path of their own
            continue
        size_m = spatial_size(G.nodes[m]["tf"]) or 0
        for p in [p for p in G.predecessors(m) if p in idom]:
            if p == d or not _cut_below(G, idom, d, p, size_m):
                H.remove_edge(p, m)
    deep_path = whole_signal(H)
    chain = [n for n in nx.topological_sort(H) if n in deep_path]
    sizes = [spatial_size(G.nodes[n]["tf"]) or 0 for n in chain]
    levels = [s for s in sizes if s > 1]
    if not levels:
        return set()
    bottom = max(i for i, s in enumerate(sizes) if s == min(levels))
    return {n for n in chain[bottom + 1 :] if n not in G.graph["outputs"]}


def _upsampled_source(G: nx.DiGraph, idom: dict, start):
    """Walk a single-input chain back from ``start``; if it rises in resolution on the way and
    starts at a branch point (the encoder level that also feeds deeper levels), that point is a skip
    source. A chain that starts at a merge is a decoder's own upsampling path, not a lateral:
    None."""
    node, rose = start, False
    while True:
        preds = [p for p in G.predecessors(node) if p in idom]
        here = spatial_size(G.nodes[node]["tf"])
        if G.nodes[node]["tf"].op == "upsample" or any(
            (spatial_size(G.nodes[p]["tf"]) or here or 0) < (here or 0) for p in preds
        ):
            rose = True
        if node != start and G.out_degree(node) > 1:  # the branch point the lateral leaves from
            return node if rose else None
        if len(preds) != 1:  # a merge: this is a decoder's own path
            return None
        node = preds[0]
