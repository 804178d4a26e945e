"""The house rules that keep the tree readable: short module docstrings, no import cycle between
files, ``tapfinder`` never importing ``deepsup``, and the CLI importing torch lazily."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tapfinder", "deepsup", "cli")
MAX_DOCSTRING_LINES = 12


def _files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, at module level or inside functions."""
    here = _module(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def _import_graph() -> nx.DiGraph:
    modules = {_module(p): p for p in _files()}
    G = nx.DiGraph()
    G.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path, set(modules)):
            # importing a submodule runs its package's __init__ first: that is no edge of the file
            if not name.startswith(target + "."):
                G.add_edge(name, target)
    return G


def test_no_module_docstring_runs_past_twelve_lines():
    long = {}
    for path in _files():
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""
        if len(doc.splitlines()) > MAX_DOCSTRING_LINES:
            long[str(path.relative_to(ROOT))] = len(doc.splitlines())
    assert not long, (
        f"module docstrings over {MAX_DOCSTRING_LINES} lines (evidence goes to docs/): {long}"
    )


def test_no_import_cycle_between_files():
    cycles = list(nx.simple_cycles(_import_graph()))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_tapfinder_never_imports_deepsup():
    G = _import_graph()
    offending = [
        (a, b) for a, b in G.edges if a.startswith("tapfinder") and b.startswith("deepsup")
    ]
    assert not offending, offending


@pytest.mark.parametrize(
    "doc", ["docs/README.md", "docs/selection.md", "docs/rules.md", "docs/recipes.md"]
)
def test_the_docs_a_newcomer_needs_are_there(doc):
    text = (ROOT / doc).read_text()
    assert text.startswith("# ")
    if doc == "docs/README.md":
        for question in ("a rule", "a frontend", "M = ⌊log₄ D⌋"):
            assert question in text


def test_every_test_the_docs_name_exists():
    """A test a doc cites as the one that pins an exception must exist under that name."""
    import re

    defined = {
        m.group(1)
        for p in (ROOT / "tests").rglob("test_*.py")
        for m in re.finditer(r"^def (test_\w+)", p.read_text(), flags=re.M)
    }
    cited = {
        name
        for doc in (ROOT / "docs").glob("*.md")
        for name in re.findall(r"\b(test_\w+)\b(?!\.py)", doc.read_text())
    }
    assert cited - defined == set()


def test_importing_the_packages_pays_for_no_optional_framework():
    import subprocess
    import sys

    frameworks = ["lightning", "transformers", "monai", "timm", "tensorboard", "matplotlib"]
    code = (
        "import sys, tapfinder, deepsup, deepsup.trainer, deepsup.integrations; "
        f"print([m for m in {frameworks!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
