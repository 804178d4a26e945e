"""Rule analyzers: each marks candidate transition points of a model graph with a reason.

One analyzer per file in this package, each a pure function ``analyze(G, ctx) -> list[Finding]``
registered with :func:`register_analyzer` (:mod:`.findings`). Every module of the package is
imported on first use, so adding a rule is adding one file; ``docs/rules.md`` says how.

Examples
--------
>>> sorted(get_analyzers())[:4]
['attention', 'bottleneck', 'downsampling', 'norm_activation']
>>> sorted(get_analyzers())[4:]
['plain_tail', 'skip_fusion', 'stage_boundary']
"""

from __future__ import annotations

import importlib
import pkgutil

import networkx as nx

from ..context import Context, build_context
from .findings import Analyzer, Finding, Kind, register_analyzer, registered

__all__ = [
    "Finding",
    "Kind",
    "Context",
    "register_analyzer",
    "get_analyzers",
    "is_registered",
    "build_context",
    "run_analyzers",
]

_LOADED = False


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "findings":
                importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True


def get_analyzers() -> dict[str, Analyzer]:
    """All registered analyzers by name."""
    _load_all()
    return registered()


def is_registered(name: str) -> bool:
    return name in get_analyzers()


def run_analyzers(G: nx.DiGraph, ctx: Context, names: list[str] | None = None) -> list[Finding]:
    """Run the named analyzers (all by default) and return their findings in graph order."""
    analyzers = get_analyzers()
    findings: list[Finding] = []
    for name in names or sorted(analyzers):
        findings.extend(analyzers[name](G, ctx))
    return sorted(findings, key=lambda f: (ctx.rank.get(f.node, len(ctx.rank)), f.rule))
