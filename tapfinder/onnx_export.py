"""ONNX out: export a model as it is (no heads: zero inference overhead), or with its tap points as
extra graph outputs to look at in Netron, checked against PyTorch with onnxruntime when
installed."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, TapfinderError
from .frontends.builder import first_tensor
from .frontends.modes import in_mode

__all__ = ["ExportReport", "export_onnx", "export_source", "onnx_node_count"]


@dataclass(frozen=True)
class ExportReport:
    path: Path
    nodes: int  # ONNX nodes in the written graph
    outputs: list = field(default_factory=list)
    max_abs_diff: float | None = (
        None  # onnxruntime vs PyTorch on the example input (None: not checked)
    )
    dynamic_batch: bool = True  # axis 0 of inputs and outputs left free (False: fixed)


class _WithTaps(nn.Module):
    """Returns the model's output followed by the tapped module outputs, captured by forward
    hooks."""

    def __init__(self, model: nn.Module, modules: list[str]):
        super().__init__()
        self.model = model
        self.modules_ = modules

    def forward(self, *inputs):
        captured: dict[str, torch.Tensor] = {}
        handles = [
            self.model.get_submodule(p).register_forward_hook(
                lambda m, a, out, p=p: captured.__setitem__(p, first_tensor(out))
            )
            for p in self.modules_
        ]
        try:
            out = self.model(*inputs)
        finally:
            for h in handles:
                h.remove()
        return (out, *[captured[p] for p in self.modules_])


def output_names(count: int) -> list[str]:
    """The names of a model's own outputs: ``output``, or ``output_0``, ``output_1``, ...

    >>> output_names(1), output_names(3)
    (['output'], ['output_0', 'output_1', 'output_2'])
    """
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def _leaves(value) -> list[torch.Tensor]:
    from torch.utils._pytree import tree_flatten

    return [t for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]


def can_free_batch(example_inputs: tuple) -> bool:
    """Whether an export traced on ``example_inputs`` can keep the batch axis free: torch.export
    fixes an axis of size 1, so a batch of 1 gives a graph for batch 1 only.

    >>> can_free_batch((torch.zeros(2, 3),)), can_free_batch((torch.zeros(1, 3),))
    (True, False)
    """
    tensors = [x for x in example_inputs if isinstance(x, torch.Tensor)]
    return bool(tensors) and all(x.dim() > 0 and x.shape[0] >= 2 for x in tensors)


def _batch_axis(example_inputs: tuple, varargs: bool, names: list[str], dynamo: bool) -> dict:
    """The exporter's arguments that keep axis 0 (the batch) of every input and output dynamic
    (none where the example's batch cannot: :func:`can_free_batch`)."""
    if not can_free_batch(example_inputs):
        return {}
    if not dynamo:
        return {"dynamic_axes": {name: {0: "batch"} for name in names}}
    batch = torch.export.Dim("batch")
    shapes = tuple({0: batch} for _ in example_inputs)
    return {"dynamic_shapes": (shapes,) if varargs else shapes}


def onnx_node_count(path: str | Path) -> int:
    import onnx

    return len(onnx.load(str(path)).graph.node)


def _tap_modules(model: nn.Module, selection) -> list[str]:
    names = dict(model.named_modules())
    modules = []
    for p in selection.points:
        path = p.module if p.module in names and p.module else (p.name if p.name in names else None)
        if path is None:
            raise ConfigError(
                f"tap point {p.name!r} is not the output of a module, so it cannot be exported as "
                "an extra output; pick module outputs with `points`"
            )
        modules.append(path)
    return modules


def _run_onnxruntime(path: Path, inputs: tuple) -> list | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: x.detach().cpu().numpy() for i, x in zip(session.get_inputs(), inputs)}
    return session.run(None, feed)


def export_onnx(
    model: nn.Module,
    example_inputs: tuple,
    path: str | Path,
    *,
    selection=None,
    dynamo: bool = True,
) -> ExportReport:
    """Export ``model`` in eval mode to ``path``; with ``selection``, its points become extra
    outputs. The batch axis stays free when the example batch is 2 or more.

    Raises:
        ConfigError: an unwritable path or a tap point that is not a module output.
        TapfinderError: the exporter failed (its first line is in the message).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder; give a file path")
    existed = path.exists()
    with in_mode(model, False):
        module = (
            _WithTaps(model, _tap_modules(model, selection)) if selection is not None else model
        )
        with torch.no_grad():
            expected = module(*example_inputs)
        taps = [f"tap_{p.name}" for p in selection.points] if selection is not None else []
        names = output_names(len(_leaves(expected)) - len(taps)) + taps
        inputs = [
            f"input_{i}" if len(example_inputs) > 1 else "input" for i in range(len(example_inputs))
        ]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    module,
                    tuple(example_inputs),
                    str(path),
                    dynamo=dynamo,
                    verbose=False,
                    input_names=inputs,
                    output_names=names,
                    **_batch_axis(example_inputs, module is not model, inputs + names, dynamo),
                )
        except Exception as e:
            if not existed:  # nothing half-written stays behind
                path.unlink(missing_ok=True)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TapfinderError(
                f"ONNX export failed: {first[:300]}; try the other exporter (`dynamo={not dynamo}`)"
            ) from e
    got = _run_onnxruntime(path, tuple(example_inputs))
    diff = None
    if got is not None:
        want = _leaves(expected)
        diffs = [
            float((torch.as_tensor(g) - w).abs().max())
            for g, w in zip(got, want)
            if g.shape == tuple(w.shape)
        ]
        diff = max(diffs) if diffs else None
    return ExportReport(
        path, onnx_node_count(path), names, diff, dynamic_batch=can_free_batch(example_inputs)
    )


def export_source(
    spec: str,
    path: str | Path,
    *,
    with_taps: bool = False,
    points="auto",
    dynamo: bool = True,
    input_shape: tuple | None = None,
) -> ExportReport:
    """Export a model named as on the command line (zoo name or ``file.py``); the batch axis stays
    dynamic (traced at batch 2: an exporter would fix a batch of 1).

    Raises:
        ConfigError: no example input is known and none was given.
    """
    from .api import select_points
    from .selector import normalize_points
    from .sources import input_for, load_model

    source = load_model(spec)
    if input_shape:
        inputs = (input_for(source.model, input_shape),)
    elif source.example_inputs is not None:
        inputs = tuple(x[:2] if isinstance(x, torch.Tensor) else x for x in source.example_inputs)
    else:
        raise ConfigError("no example input is known for this model; give one with `input_shape`")
    sel = (
        select_points(source.model, inputs, points=normalize_points(points)) if with_taps else None
    )
    return export_onnx(source.model, inputs, path, selection=sel, dynamo=dynamo)
