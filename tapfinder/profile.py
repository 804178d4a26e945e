"""The depth profile: resolution and channels along depth, with the chosen points marked.

A pure summary of a :class:`~tapfinder.selection.Selection` for rendering: the main path
(whole-signal nodes) is cut into ``width`` equal depth columns; each column reports the spatial size
and channel count of the last main-path node at or before its depth, and which chosen points fall in
it.
"""

from __future__ import annotations

from typing import NamedTuple

from .graph import info

__all__ = ["ProfileColumn", "depth_profile"]


class ProfileColumn(NamedTuple):
    depth: float  # column's right edge, in weighted layers
    spatial: tuple | None  # spatial extent (None or (): flat or unknown)
    channels: int | None
    points: tuple  # names of chosen points in this column


def depth_profile(selection, width: int = 60) -> list[ProfileColumn]:
    """Columns of the depth profile of ``selection`` (see the module docstring)."""
    G, D = selection.graph, max(selection.depth, 1)
    main = sorted(
        (selection.depths.get(n, 0), info(G, n).order, info(G, n))
        for n in selection.whole
        if n in G and info(G, n).shape
    )
    columns, i, last = [], 0, None
    for c in range(width):
        edge = D * (c + 1) / width
        while i < len(main) and main[i][0] <= edge:
            last = main[i][2]
            i += 1
        points = tuple(
            p.name
            for p in selection.points
            if D * c / width < max(p.depth, 1e-9) <= edge or (c == 0 and p.depth == 0)
        )
        spatial = tuple(last.spatial) if last and last.spatial else None
        columns.append(ProfileColumn(edge, spatial, last.channels if last else None, points))
    return columns
