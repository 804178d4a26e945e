"""The :class:`Selection`: chosen points, every candidate, the depth and the graph, as one value.

A selection serializes to JSON and back without loss (``Selection.from_json(sel.to_json()) == sel``
up to graph identity), so ``tapfinder inspect --json`` output can be fed to training later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from .graph import NodeInfo
from .points import TapPoint

__all__ = ["Selection"]

_FORMAT = "tapfinder.selection/2"
_READS = ("tapfinder.selection/1", _FORMAT)


@dataclass(frozen=True)
class Selection:
    """The result of :func:`tapfinder.select_points`.

    Attributes:
        model: what was analysed (a zoo name, a file, a class name).
        points: the chosen points, in depth order.
        candidates: every node some rule marked, in depth order, each with its reasons and note.
        depth: D, the longest input-to-output path counted in weighted layers.
        graph: the model graph (see :mod:`tapfinder.graph`); ``depths`` each node's depth and
            ``whole`` the nodes whose features carry the whole signal (see
            :mod:`tapfinder.context`).
        method: the frontend that built the graph; ``shape_method`` how shapes were propagated;
            ``fallbacks`` the frontends tried before it, each with why it failed.
        window: the ``(low, high)`` depth fractions the automatic choice may use.
        inputs: the example input shapes; ``timings`` seconds per phase; ``notes`` what to know.
    """

    model: str
    points: list
    candidates: list
    depth: int
    graph: nx.DiGraph = field(compare=False, repr=False)
    method: str = "fx"
    shape_method: str = "meta"
    window: tuple = (0.0, 1.0)
    inputs: list = field(default_factory=list)
    timings: dict = field(default_factory=dict, compare=False)
    notes: list = field(default_factory=list)
    fallbacks: list = field(default_factory=list)  # (frontend, why it failed) before ``method``
    depths: dict = field(
        default_factory=dict, compare=False, repr=False
    )  # node -> weighted-layer depth
    whole: frozenset = field(
        default_factory=frozenset, compare=False, repr=False
    )  # nodes a head sees all from

    @property
    def m(self) -> int:
        """M, the number of chosen points."""
        return len(self.points)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.points]

    def to_json(self, indent: int | None = None) -> str:
        graph = nx.node_link_data(self.graph, edges="edges")
        for node in graph["nodes"]:
            node["tf"] = node["tf"].to_dict()
        return json.dumps(
            {
                "format": _FORMAT,
                "model": self.model,
                "depth": self.depth,
                "m": self.m,
                "method": self.method,
                "shape_method": self.shape_method,
                "window": list(self.window),
                "inputs": [list(s) for s in self.inputs],
                "timings": self.timings,
                "notes": self.notes,
                "fallbacks": [list(f) for f in self.fallbacks],
                "points": [p.to_dict() for p in self.points],
                "candidates": [c.to_dict() for c in self.candidates],
                "graph": graph,
                "depths": self.depths,
                "whole": sorted(self.whole),
            },
            indent=indent,
            default=_jsonable,
        )

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.to_json(indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Selection":
        """The selection :meth:`save` wrote to ``path``."""
        path = Path(path)
        if not path.is_file():
            from .errors import ConfigError

            raise ConfigError(
                f"no selection file {str(path)!r}; write one with `Selection.to_json()`"
            )
        return cls.from_json(path.read_text())

    @classmethod
    def from_json(cls, text: "str | Path") -> "Selection":
        """The selection :meth:`to_json` wrote: its text, or the path of a file holding it."""
        if isinstance(text, Path) or not text.lstrip().startswith("{"):
            return cls.load(text)
        data = json.loads(text)
        if data.get("format") not in _READS:
            from .errors import ConfigError

            raise ConfigError(
                f"not a tapfinder selection file (format {data.get('format')!r}); "
                "write one with `Selection.to_json()`"
            )
        raw = {n["id"]: n["tf"] for n in data["graph"]["nodes"]}
        for node in data["graph"]["nodes"]:
            node["tf"] = NodeInfo.from_dict(node["tf"])
        graph = nx.node_link_graph(data["graph"], edges="edges")
        # format 1 kept each node's depth and whole-signal flag in its record
        depths = data.get("depths") or {n: tf.get("depth", 0) for n, tf in raw.items()}
        whole = data.get("whole") or [n for n, tf in raw.items() if tf.get("whole")]
        return cls(
            model=data["model"],
            depth=data["depth"],
            graph=graph,
            method=data["method"],
            shape_method=data["shape_method"],
            window=tuple(data["window"]),
            inputs=[tuple(s) for s in data["inputs"]],
            timings=data["timings"],
            notes=data["notes"],
            fallbacks=[tuple(f) for f in data.get("fallbacks", [])],
            points=[TapPoint.from_dict(p) for p in data["points"]],
            candidates=[TapPoint.from_dict(c) for c in data["candidates"]],
            depths=depths,
            whole=frozenset(whole),
        )


def _jsonable(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
