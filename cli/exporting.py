"""``tapfinder export``: forward to :func:`deepsup.export.export` and say what was written."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

__all__ = ["run_export"]


def run_export(
    source: str,
    *,
    out: Path,
    model: str | None,
    fmt: str,
    with_taps: bool,
    points: str,
    input_shape: str | None,
    dynamo: bool,
    best: bool,
    run: str = "kept",
) -> None:
    from deepsup.export import export
    from tapfinder.sources import parse_input_shape

    shape = parse_input_shape(input_shape) if input_shape else None
    done = export(
        source,
        out,
        model=model,
        fmt=fmt,
        with_taps=with_taps,
        points=points,
        input_shape=shape,
        dynamo=dynamo,
        best=best,
        run=run,
    )
    console = Console()
    if done.run is not None and done.run != Path(source):  # the check kept another of its runs
        deepest = done.run.name == "deepest"
        kept = "its retry with the deepest point alone" if deepest else "its run without heads"
        console.print(
            f"the baseline check of {source} kept {kept}: the weights come from "
            f"{done.run} (--run heads: the run with heads)",
            highlight=False,
        )
    if done.format == "state_dict":
        console.print(
            f"wrote {done.path}: the original architecture's state_dict (heads dropped); it loads "
            "with strict=True into a freshly built model",
            highlight=False,
        )
        return
    report = done.report
    diff = (
        "not checked (install onnxruntime)"
        if report.max_abs_diff is None
        else f"{report.max_abs_diff:.2e}"
    )
    console.print(
        f"wrote {report.path}: {report.nodes} ONNX nodes, outputs {', '.join(report.outputs)}; "
        f"max |onnxruntime - PyTorch| = {diff}",
        highlight=False,
    )
