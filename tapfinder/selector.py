"""Choosing M points: candidates from the rules' findings, filtered, scored and spread along depth.

How many: ``M = clamp(⌊log₄ D⌋, 1, 5)``, and in a plain net one more at its tail where the layers
after the others are many. Where: whole-signal candidates past the stem and before the final stage
(or the last 15 %; in a plain net always the last 15 %); a dense encoder-decoder among its decoder
stages. Which: the strongest score tier first, its picks the candidates nearest evenly spaced
depths. The reasoning, the papers' ablations behind each constant, and the tests that pin them:
``docs/selection.md`` (other placements tried on a norm-free net: ``docs/recipes.md``).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import replace

import networkx as nx

from .context import Context
from .depth import OUTPUT_FRAC, STEM_FRAC
from .errors import ConfigError, NodeNotFoundError
from .graph import NodeInfo, info
from .points import Eligibility, TapPoint
from .rules.findings import Finding, Kind
from .rules.stage_boundary import ends_a_stacked_block

__all__ = ["auto_count", "normalize_points", "candidates_from", "choose", "resolve_name"]

MAX_POINTS = 5
COPIES_MAIN = (
    1  # weighted layers after a point at most (the classifier) for its head to copy the main one
)
FINAL_STAGE_MIN = 3  # weighted layers after the last drop for it to begin a final stage


def auto_count(D: int) -> int:
    """The default number of points for depth ``D``.

    >>> [auto_count(d) for d in (3, 18, 50, 110, 152, 1000, 10**6)]
    [1, 2, 2, 3, 3, 4, 5]
    """
    return max(1, min(MAX_POINTS, int(math.log2(max(D, 1)) // 2)))


def normalize_points(points) -> "str | int | list[str]":
    """Turn ``"auto"``, an int, ``"3"``, ``"layer1,layer3"`` or a list of names into one of three
    forms.

    >>> normalize_points("auto"), normalize_points(" 3 "), normalize_points("layer1, layer3")
    ('auto', 3, ['layer1', 'layer3'])
    """
    if points is None or (isinstance(points, str) and points.strip().lower() in ("", "auto")):
        return "auto"
    if isinstance(points, bool):
        raise ConfigError(f"points must be 'auto', a count or node names, got {points!r}")
    if isinstance(points, str) and points.strip().lstrip("-").isdigit():
        points = int(points)
    if isinstance(points, int):
        if points < 1:
            raise ConfigError(
                f"points must be at least 1, got {points}; use 'auto' for the default"
            )
        return points
    if not isinstance(points, (str, list, tuple)):
        raise ConfigError(f"points must be 'auto', a count or node names, got {points!r}")
    names = [p.strip() for p in points.split(",")] if isinstance(points, str) else list(points)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"points must be 'auto', a count or node names, got {points!r}")
    return names


def _window(G: nx.DiGraph, ctx: Context, findings: list[Finding]) -> tuple[float, float]:
    D = max(ctx.D, 1)
    drops = [
        ctx.depth[f.node] / D
        for f in findings
        if f.kind is Kind.BEFORE_DROP and f.node in ctx.whole
    ]
    if (
        D >= 2 * FINAL_STAGE_MIN
    ):  # a stage, not a merger in front of the head (too shallow a net: every drop)
        drops = [d for d in drops if (1 - d) * D >= FINAL_STAGE_MIN]
    pyramid = drops and max(drops) >= 0.5 and not _deep_plain(ctx)  # its last stage may train
    high = max(drops) if pyramid else OUTPUT_FRAC
    low = max(STEM_FRAC, min(2 / D, high))
    return low, high


def _eligibility(record: NodeInfo, whole: bool, depth: int, D: int, window: tuple) -> Eligibility:
    """Whether the automatic choice may take a node: on the whole signal, a tensor, inside the
    window, and more than the classifier away from the output (a head there copies the main one)."""
    low, high = window
    frac = depth / max(D, 1)
    if not whole:
        return Eligibility.IN_BRANCH
    if record.shape is None:
        return Eligibility.NOT_A_TENSOR
    if frac < low:
        return Eligibility.IN_STEM
    if frac > high + 1e-9 or D - depth <= COPIES_MAIN:
        return Eligibility.NEAR_OUTPUT
    return Eligibility.ELIGIBLE


def _strongest(findings: list[Finding], key) -> dict[str, float]:
    """The strongest weight per ``key(finding)`` (a rule, or the label it shows)."""
    best: dict[str, float] = {}
    for f in findings:
        best[key(f)] = max(best.get(key(f), 0.0), f.weight)
    return best


def _candidate(
    G: nx.DiGraph, ctx: Context, node: str, found: list[Finding], window: tuple
) -> TapPoint:
    record = info(G, node)
    frac = ctx.depth[node] / max(ctx.D, 1)
    whole = ctx.sees_whole(node)
    labels = _strongest(found, lambda f: f.label)
    return TapPoint(
        name=node,
        module=(record.outputs_of or (record.module,))[0],
        shape=record.shape or (),
        depth=ctx.depth[node],
        depth_frac=round(frac, 4),
        rules=sorted(labels, key=lambda r: (-labels[r], r)),
        reasons=tuple(dict.fromkeys(f.reason for f in found)),
        score=round(sum(_strongest(found, lambda f: f.rule).values()), 3),
        whole_signal=whole,
        eligibility=_eligibility(record, whole, ctx.depth[node], ctx.D, window),
    )


def candidates_from(
    G: nx.DiGraph, ctx: Context, findings: list[Finding]
) -> tuple[list[TapPoint], tuple]:
    """One :class:`TapPoint` per node with findings, with its score and eligibility; and the
    window."""
    window = _window(G, ctx, findings)
    by_node: dict[str, list[Finding]] = {}
    for f in findings:
        by_node.setdefault(f.node, []).append(f)
    out = [_candidate(G, ctx, node, found, window) for node, found in by_node.items()]
    out.sort(key=lambda c: (c.depth, ctx.rank.get(c.name, 0)))
    return out, (round(window[0], 4), round(window[1], 4))


def snap_to_even(fracs: list[float], m: int, window: tuple = (0.0, 1.0)) -> list[int]:
    """Indices of the ``m`` depths (ascending ``fracs``) nearest to evenly spaced depths of the
    whole network, ``k / (m + 1)`` moved into ``window``, matched in order with the least total
    distance; of two equal matches the shallower wins.

    >>> snap_to_even([0.20, 0.44, 0.80], 2)   # ResNet-50's stage outputs: layer2 and layer3
    [1, 2]
    >>> snap_to_even([0.28, 0.50, 0.72], 2)   # ResNet-18's: layer1 and layer3
    [0, 2]
    """
    targets = [min(max((k + 1) / (m + 1), window[0]), window[1]) for k in range(m)]
    n, inf = len(fracs), float("inf")
    cost = [
        [0.0] + [inf] * m for _ in range(n + 1)
    ]  # cost[i][j]: targets[:j] matched within fracs[:i]
    for i in range(1, n + 1):
        for j in range(1, min(i, m) + 1):
            cost[i][j] = min(
                cost[i - 1][j], cost[i - 1][j - 1] + abs(fracs[i - 1] - targets[j - 1])
            )
    picks, i = [], n
    for j in range(
        m, 0, -1
    ):  # from the deepest target back, taking a depth only when skipping it costs more
        while cost[i - 1][j] <= cost[i][j] + 1e-9:
            i -= 1
        picks.append(i - 1)
        i -= 1
    return picks[::-1]


def _spread(eligible: list[TapPoint], m: int, window: tuple) -> list[TapPoint]:
    """Take the strongest candidates first; within a score tier, keep the picks far apart."""
    chosen: list[TapPoint] = []
    for score in sorted({c.score for c in eligible}, reverse=True):
        need = m - len(chosen)
        if need <= 0:
            break
        taken = {c.depth for c in chosen}
        by_depth: dict[int, TapPoint] = {}
        for c in eligible:  # one per depth, preferring a module's output to a bare op
            if c.score == score and c.depth not in taken:
                if c.depth not in by_depth or (
                    c.name == c.module and by_depth[c.depth].name != by_depth[c.depth].module
                ):
                    by_depth[c.depth] = c
        tier = list(by_depth.values())
        if len(tier) <= need:
            chosen += tier
        elif not chosen:
            chosen += [tier[i] for i in snap_to_even([c.depth_frac for c in tier], need, window)]
        else:
            for _ in range(need):  # farthest from the points so far and from the window's ends
                anchors = [*window, *(p.depth_frac for p in chosen)]
                rest = [c for c in tier if c.depth not in {p.depth for p in chosen}]
                if not rest:
                    break
                chosen.append(
                    max(rest, key=lambda c: (min(abs(c.depth_frac - a) for a in anchors), -c.depth))
                )
    return sorted(chosen, key=lambda c: c.depth)


def resolve_name(G: nx.DiGraph, name: str) -> str:
    """The graph node a user's name refers to (a node key or one of its aliases).

    Raises:
        NodeNotFoundError: with the closest names and where to list them all.
    """
    if name in G:
        return name
    for node in G:
        if name in info(G, node).aliases or name in info(G, node).outputs_of:
            return node
    close = difflib.get_close_matches(name, list(G.nodes), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise NodeNotFoundError(
        f"no node named {name!r} in the model graph{hint} "
        "(list every name with `node_names(model)`)"
    )


def _merged_after(G: nx.DiGraph, ctx: Context, node: str) -> str | None:
    """The first whole-signal node after ``node`` (a branch's merge), a module's output if one of
    that depth."""
    later = [n for n in ctx.order[ctx.order.index(node) :] if n in ctx.whole]
    if not later:
        return None
    same = [n for n in later if ctx.depth[n] == ctx.depth[later[0]]]
    return next((n for n in same if info(G, n).outputs_of), later[0])


def _named(G, ctx, candidates, names) -> list[TapPoint]:
    by_name = {c.name: c for c in candidates}
    chosen = []
    D = max(ctx.D, 1)
    for name in names:
        try:
            node = resolve_name(G, name)
        except NodeNotFoundError as e:
            eligible = [c.name for c in candidates if c.eligible][:8]
            raise NodeNotFoundError(
                f"{e}; eligible points here: {', '.join(eligible) or 'none'}"
            ) from None
        record = info(G, node)
        if node not in ctx.idom or record.shape is None:
            raise ConfigError(
                f"{name!r} is not a tensor on the input-to-output path; pick another node"
            )
        if not ctx.sees_whole(node) and not ends_a_stacked_block(G, record):
            after = _merged_after(G, ctx, node)
            instead = f" ({after!r})" if after else ""
            raise ConfigError(
                f"{name!r} sits inside a branch and sees only part of the signal; "
                f"tap the merged output instead{instead}"
            )
        point = by_name.get(node) or TapPoint(
            name=node,
            module=(record.outputs_of or (record.module,))[0],
            shape=record.shape,
            depth=ctx.depth[node],
            depth_frac=round(ctx.depth[node] / D, 4),
        )
        chosen.append(replace(point, eligibility=Eligibility.ELIGIBLE))
    return sorted(dict((p.name, p) for p in chosen).values(), key=lambda p: p.depth)


def choose(
    G: nx.DiGraph, ctx: Context, candidates: list[TapPoint], window: tuple, points
) -> tuple[list[TapPoint], list[str]]:
    """Pick the points (``points`` already normalized) and say what the user should know."""
    if isinstance(points, list):
        return _named(G, ctx, candidates, points), []
    eligible = [c for c in candidates if c.eligible]
    notes = []
    decoder = [c for c in eligible if c.name in ctx.decoder]
    if decoder:  # a dense output is supervised where its decoder predicts (nnU-Net, UNet++)
        eligible = decoder
        notes.append("dense output: points are chosen among the decoder stages")
    places = len({c.depth for c in eligible})  # candidates at one depth are one place
    wanted = auto_count(ctx.D) if points == "auto" else points
    if wanted > places:
        asked = (
            f"auto picks {wanted} points for D = {ctx.D}"
            if points == "auto"
            else f"asked for {wanted} points"
        )
        notes.append(
            f"{asked}, but eligible candidates sit at only {places} distinct "
            f"depth{'s' * (places != 1)}"
        )
    if not places:
        notes.append(no_point_reason(G, ctx, window))
    m = min(wanted, places)
    chosen = _spread(eligible, m, window)
    if points == "auto" and _deep_plain(ctx):
        chosen = _with_tail(chosen, eligible, ctx.D)
    if points == "auto" and ctx.plain and chosen:
        notes.append(PLAIN_NOTE)
    return chosen, notes


# what a user of a plain net should know before training with heads (evidence: docs/recipes.md,
# "Real digits at 8×8"; pinned by tests/rules/test_plain_tail.py)
PLAIN_NOTE = (
    "a plain net (no normalization, nothing passing a weighted layer): heads can slow one that "
    'trains without them (docs/recipes.md, "Real digits at 8×8"); compare with a run without '
    "heads (the trainer's default baseline check does)"
)


def _deep_plain(ctx: Context) -> bool:
    """A plain net (:attr:`Context.plain`) deep enough for two points: its tail is supervised."""
    return ctx.plain and auto_count(ctx.D) >= 2


def _with_tail(chosen: list[TapPoint], eligible: list[TapPoint], D: int) -> list[TapPoint]:
    """``chosen`` and a plain net's tail point, where more layers follow the deepest point than lie
    between evenly spaced points (``docs/selection.md``, "Plain nets")."""
    tail = next((c for c in eligible if "plain_tail" in c.rules), None)
    deepest = max((c.depth for c in chosen), default=0)
    if tail is None or D - deepest <= D / (len(chosen) + 1) or tail.depth <= deepest:
        return chosen
    return [*chosen, tail]


def no_point_reason(G: nx.DiGraph, ctx: Context, window: tuple) -> str:
    """Why no node can carry a head: the inputs meet only near the output, or no candidate sees
    the whole signal inside the window."""
    inputs = set(G.graph.get("inputs") or ())
    fusion = next(
        (
            n
            for n in ctx.order
            if n in ctx.whole
            and n not in inputs
            and sum(p in ctx.idom for p in G.predecessors(n)) >= 2
        ),
        None,
    )
    if fusion is not None and len(inputs) > 1:
        left = ctx.D - ctx.depth[fusion]
        return (
            f"no point sees every input: the {len(inputs)} inputs first meet at {fusion!r}, "
            f"{left} weighted layer{'s' * (left != 1)} from the output"
        )
    low, high = window
    return f"no candidate sees the whole signal between {low:.0%} and {high:.0%} of the depth"
