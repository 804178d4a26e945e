"""``tapfinder inspect``: analyse a model behind a spinner, then render the choice."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator

from rich.console import Console

__all__ = ["run_inspect", "stages"]


@contextlib.contextmanager
def stages(console: Console, first: str = "starting") -> Iterator[None]:
    """A spinner on ``console`` naming each stage the library reports (nothing when it is no
    terminal)."""
    from tapfinder.progress import reporting

    if not console.is_terminal:
        yield
        return
    with console.status(f"{first}…") as status, reporting(lambda stage: status.update(f"{stage}…")):
        yield


def _json_target(json_out: str | None) -> Path | None:
    """Where ``--json`` writes (None: stdout or nowhere), checked before any work."""
    from tapfinder.errors import ConfigError

    if json_out in (None, "-"):
        return None
    path = Path(json_out)
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder; give a file as `json_out`")
    if not path.parent.is_dir():
        raise ConfigError(
            f"cannot write {path}: folder {path.parent} does not exist; create it or choose "
            "another `json_out`"
        )
    return path


def run_inspect(
    model: str,
    *,
    points: str,
    input_shape: str | None,
    input_dtype: str | None = None,
    all_candidates: bool,
    json_out: str | None,
    quiet: bool,
) -> None:
    from tapfinder.api import select_points
    from tapfinder.errors import ConfigError
    from tapfinder.profile import depth_profile
    from tapfinder.selector import normalize_points
    from tapfinder.sources import parse_input_shape

    from .render import render_candidates, render_points, render_profile, render_summary

    to_stdout = json_out == "-"
    target = _json_target(json_out)
    # with the JSON on stdout, what people read goes to stderr
    console, err = Console(stderr=to_stdout), Console(stderr=True)
    shape = parse_input_shape(input_shape) if input_shape else None
    wanted = normalize_points(points)
    start = time.perf_counter()
    with stages(err, "building the model"):
        sel = select_points(model, points=wanted, input_shape=shape, input_dtype=input_dtype)
    seconds = time.perf_counter() - start
    if quiet and not to_stdout:
        console.print(",".join(sel.names), highlight=False, soft_wrap=True)
    elif not quiet:
        console.print(render_summary(sel, seconds))
        console.print(render_points(sel))
        console.print(
            render_profile(depth_profile(sel, width=min(60, max(console.width - 14, 20))))
        )
        for note in sel.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        if all_candidates:
            console.print(render_candidates(sel))
    text = sel.to_json(indent=1)
    if to_stdout:
        print(text)
    elif target is not None:
        try:
            target.write_text(text)
        except OSError as e:
            raise ConfigError(
                f"cannot write {target}: {e.strerror}; choose another `json_out`"
            ) from e
        if not quiet:
            console.print(f"selection written to {target}")
