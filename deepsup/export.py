"""Export, whatever the source: a training run (its model without heads) or a model name (ONNX)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tapfinder.errors import ConfigError

__all__ = ["Exported", "export"]


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str  # "state_dict" or "onnx"
    report: object = None  # tapfinder.onnx_export.ExportReport for ONNX
    run: Path | None = None  # a run's folder whose weights were written (its check's choice)


def _looks_like_a_folder(source: str) -> bool:
    return (
        ("/" in source or "\\" in source)
        and not source.endswith((".py", ".onnx"))
        and ".py:" not in source
    )


def export(
    source: str,
    out: str | Path,
    *,
    model: str | None = None,
    fmt: str = "",
    with_taps: bool = False,
    points="auto",
    input_shape: tuple | None = None,
    dynamo: bool = True,
    best: bool = False,
    run: str = "kept",
) -> Exported:
    """Export ``source``: a run folder to a ``state_dict`` or ONNX file (``fmt``, else from
    ``out``'s
    suffix), a model name or file to ONNX (with its tap points as extra outputs when ``with_taps``);
    ``run``: a checked run's ``kept`` one or the one with ``heads`` (``deepsup.run.kept_folder``).

    Raises:
        ConfigError: options that do not fit the source, a missing folder or run, an unwritable
        ``out``.
    """
    out = Path(out)
    if not out.parent.is_dir():
        raise ConfigError(
            f"cannot write {out}: folder {out.parent} does not exist; create it first"
        )
    if out.is_dir():
        raise ConfigError(f"cannot write {out}: it is a folder; give a file path as `out`")
    if Path(source).is_dir():
        from .run import export_run, kept_folder

        fmt = fmt or ("onnx" if out.suffix == ".onnx" else "state_dict")
        folder = kept_folder(source, run)
        path, report = export_run(
            source,
            out,
            fmt,
            dynamo=dynamo,
            checkpoint="best" if best else "last",
            model=model,
            run=run,
        )
        return Exported(path, fmt, report, folder)
    if _looks_like_a_folder(source):
        raise ConfigError(
            f"no run folder {source!r}; give the folder a training run wrote (with run.json and "
            "last.pt, as tapfinder train writes them), or a model name or FILE.py"
        )
    for name, given in (
        ("format", fmt not in ("", "onnx")),
        ("best", best),
        ("model", model is not None),
        ("run", run != "kept"),
    ):
        if given:
            raise ConfigError(f"`{name}` needs a run folder; a model name exports to ONNX only")
    from tapfinder.onnx_export import export_source

    report = export_source(
        source, out, with_taps=with_taps, points=points, dynamo=dynamo, input_shape=input_shape
    )
    return Exported(report.path, "onnx", report)
