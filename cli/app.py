"""``tapfinder`` commands. Thin: options in, library call, renderers out; torch is imported lazily."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find where to attach deep-supervision heads in any PyTorch model.")
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Find where to attach deep-supervision heads in any PyTorch model."""


def _fail(error: Exception, debug: bool) -> None:
    if debug:
        raise error
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def inspect(
    model: Annotated[str, typer.Argument(help="torchvision/timm name (resnet50, timm:convnext_tiny), FILE.py[:NAME] or FILE.onnx")],
    *,
    points: Annotated[str, typer.Option(help="'auto' (about log D), a count, or comma-separated node names")] = "auto",
    input_shape: Annotated[Optional[str], typer.Option("--input-shape", help="example input shape, e.g. 1,3,64,64")] = None,
    all_candidates: Annotated[bool, typer.Option("--all", help="list every candidate with its reasons")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the selection as JSON to this file")] = None,
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Preview where deep-supervision heads go: graph → candidates → about log D points."""
    from tapfinder.errors import TapfinderError

    from .render import render_candidates, render_points, render_profile, render_summary

    if json_out is not None and not json_out.parent.is_dir():
        _fail(TapfinderError(f"cannot write {json_out}: folder {json_out.parent} does not exist; "
                             "create it or choose another path"), debug)
    start = time.perf_counter()
    try:
        from tapfinder.api import select_points
        from tapfinder.profile import depth_profile
        from tapfinder.selector import normalize_points
        from tapfinder.sources import parse_input_shape

        shape = parse_input_shape(input_shape) if input_shape else None
        sel = select_points(model, points=normalize_points(points), input_shape=shape)
    except TapfinderError as e:
        _fail(e, debug)
        return
    seconds = time.perf_counter() - start
    console.print(render_summary(sel, seconds))
    console.print(render_points(sel))
    console.print(render_profile(depth_profile(sel, width=min(60, max(console.width - 14, 20)))))
    for note in sel.notes:
        console.print(f"[yellow]note:[/] {note}")
    if all_candidates:
        console.print(render_candidates(sel))
    if json_out is not None:
        try:
            json_out.write_text(sel.to_json(indent=1))
        except OSError as e:
            _fail(TapfinderError(f"cannot write {json_out}: {e.strerror}; choose another path"), debug)
        console.print(f"selection written to {json_out}")


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="torchvision/timm name or FILE.py[:NAME]")],
    *,
    out: Annotated[Path, typer.Option("--out", help="ONNX file to write")],
    with_taps: Annotated[bool, typer.Option("--with-taps", help="add the tap points as extra graph outputs")] = False,
    points: Annotated[str, typer.Option(help="tap points when --with-taps: 'auto', a count or names")] = "auto",
    input_shape: Annotated[Optional[str], typer.Option("--input-shape", help="example input shape, e.g. 1,3,224,224")] = None,
    torchscript: Annotated[bool, typer.Option("--torchscript", help="use the TorchScript exporter, not dynamo")] = False,
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Export MODEL to ONNX as it is (no heads), checked against PyTorch with onnxruntime."""
    from tapfinder.errors import TapfinderError

    try:
        import torch

        from tapfinder.api import select_points
        from tapfinder.onnx_export import export_onnx
        from tapfinder.selector import normalize_points
        from tapfinder.sources import load_model, parse_input_shape

        source = load_model(model)
        if input_shape:
            inputs = (torch.randn(*parse_input_shape(input_shape)),)
        elif source.example_inputs is not None:
            inputs = tuple(x[:1] if isinstance(x, torch.Tensor) else x for x in source.example_inputs)
        else:
            raise TapfinderError("no example input known for this model; give one with --input-shape")
        sel = select_points(source.model, inputs, points=normalize_points(points)) if with_taps else None
        report = export_onnx(source.model, inputs, out, selection=sel, dynamo=not torchscript)
    except TapfinderError as e:
        _fail(e, debug)
        return
    diff = "not checked (install onnxruntime)" if report.max_abs_diff is None else f"{report.max_abs_diff:.2e}"
    console.print(f"wrote {report.path}: {report.nodes} ONNX nodes, outputs {', '.join(report.outputs)}; "
                  f"max |onnxruntime - PyTorch| = {diff}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
