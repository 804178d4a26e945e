"""``tapfinder`` commands. Thin: options in, library call, renderers out; torch is imported lazily."""
from __future__ import annotations

import time
from contextlib import contextmanager
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


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (``kill``, a cluster's preemption, ``timeout``) stops training the way Ctrl-C does,
    with a line saying where the last checkpoint is; the yielded list says whether it came."""
    import signal
    import threading

    came: list = []

    def stop(signum, frame):
        came.append(signum)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():   # only the main thread may set handlers
        yield came
        return
    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, before)


@app.command()
def train(
    *,
    model: Annotated[str, typer.Option(help="torchvision/timm/paper model name or FILE.py[:NAME]")],
    data: Annotated[str, typer.Option(help="mnist1d, shapes, an image folder, or a data .py file")] = "mnist1d",
    points: Annotated[str, typer.Option(help="'auto' (about log D), a count, or comma-separated node names")] = "auto",
    recipe: Annotated[str, typer.Option(help="auto (dks for classification, imachsr for segmentation), "
                                             "baseline, dsn, dks or imachsr")] = "auto",
    adapter: Annotated[str, typer.Option(help="aux head design: dks (conv stages) or light (1x1 conv)")] = "dks",
    alpha: Annotated[Optional[float], typer.Option(help="aux CE weight [dsn 0.3, dks 1, imachsr 0.3]",
                                                   rich_help_panel="Loss")] = None,
    alpha_decay: Annotated[bool, typer.Option(help="decay alpha linearly to 0 over training",
                                              rich_help_panel="Loss")] = False,
    gamma: Annotated[Optional[float], typer.Option(help="DSN margin: aux CE below it is not pushed further [0]",
                                                   rich_help_panel="Loss")] = None,
    direction: Annotated[Optional[str], typer.Option(help="DKS synergy: auto (bi; top-down between maps), bi, top-down or bottom-up [auto]",
                                                     rich_help_panel="Loss")] = None,
    beta: Annotated[Optional[float], typer.Option(help="DKS synergy weight [1]", rich_help_panel="Loss")] = None,
    lam: Annotated[Optional[float], typer.Option(help="iMacHSR negative-entropy weight [0.01]",
                                                 rich_help_panel="Loss")] = None,
    kd: Annotated[Optional[float], typer.Option(help="weight of main → aux distillation [0: off]",
                                                rich_help_panel="Loss")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="distillation temperature [2]",
                                                         rich_help_panel="Loss")] = None,
    dense: Annotated[Optional[str], typer.Option(help="segmentation heads coarser than the target: upsample "
                                                      "their logits or downsample the target [upsample]",
                                                 rich_help_panel="Loss")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam, adamw or sgd")] = "adam",
    schedule: Annotated[str, typer.Option(help="onecycle, cosine, step or none")] = "onecycle",
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.0,
    clip_grad: Annotated[float, typer.Option(min=0.0, help="max gradient norm, 0 for none")] = 0.0,
    amp: Annotated[bool, typer.Option(help="mixed precision (on CUDA)")] = False,
    seed: int = 0,
    workers: Annotated[int, typer.Option(min=0, help="data-loading processes")] = 0,
    step_size: Annotated[int, typer.Option(min=1, help="epochs between the step schedule's 10x decays")] = 10,
    device: Annotated[str, typer.Option(help="auto (CUDA if present, else MPS, else CPU), cpu, cuda, cuda:N, mps")] = "auto",
    compile: Annotated[bool, typer.Option(help="torch.compile the model with its heads")] = False,
    image_size: Annotated[int, typer.Option(help="image side for image folders")] = 32,
    out: Annotated[Path, typer.Option(help="run folder: checkpoint, metrics.jsonl, selection.json")] = Path("runs/last"),
    resume: Annotated[bool, typer.Option(help="continue from OUT/last.pt")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="train without asking after the preview")] = False,
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Preview the tap points and heads, then train with deep supervision."""
    from tapfinder.errors import ConfigError, TapfinderError

    from .render import (render_heads, render_points, render_profile, render_run_end, render_summary,
                         render_train_row, render_training)

    try:
        from deepsup.distributed import world
        from deepsup.losses import describe
        from deepsup.run import RunSpec, check_out, check_resume, prepare, trainer_for
        from deepsup.trainer import TrainConfig
        from tapfinder.profile import depth_profile

        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                          weight_decay=weight_decay, schedule=schedule, clip_grad=clip_grad, amp=amp, seed=seed,
                          workers=workers, step_size=step_size, compile=compile)
        options = {"alpha": alpha, "gamma": gamma, "direction": direction, "beta": beta, "lam": lam, "kd": kd,
                   "temperature": temperature, "dense": dense, "alpha_decay": alpha_decay or None}
        rank, processes = world()
        if processes > 1 and not yes:
            raise ConfigError("under torchrun every process would ask; look with `tapfinder inspect` "
                              "first and pass --yes")
        check_out(out, resume)
        started = time.perf_counter()
        run = prepare(RunSpec(model=model, data=data, points=points, recipe=recipe, adapter=adapter, train=cfg,
                              image_size=image_size, loss={k: v for k, v in options.items() if v is not None}, device=device))
        if resume:
            check_resume(out, run)
    except TapfinderError as e:
        _fail(e, debug)
        return
    # under torchrun only rank 0 speaks; every process trains
    console.quiet = rank != 0
    if run.selection is not None:
        console.print(render_summary(run.selection, time.perf_counter() - started))
        console.print(render_points(run.selection))
        console.print(render_profile(depth_profile(run.selection, width=min(60, max(console.width - 14, 20)))))
    if run.data.description:
        console.print(f"[bold]data[/]  {run.data.description}")
    console.print(f"[bold]loss[/]  {run.spec.recipe}: {describe(run.loss, run.data.task)}")
    console.print(f"[bold]train[/] {render_training(run)}")
    console.print(render_heads(run))
    if not yes:
        if not typer.confirm("Train with these points?", default=True):
            raise typer.Exit(code=0)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(), console=console,
                        transient=True)
    bar = progress.add_task("train", total=1, epoch=0, loss=float("nan"))

    def step(epoch, done, total, loss):
        progress.update(bar, completed=done, total=total, epoch=f"{epoch + 1}/{epochs}", loss=loss)

    trainer = trainer_for(run, out, on_epoch=lambda row: progress.console.print(render_train_row(row, epochs)),
                          on_step=step)
    try:
        with _sigterm_as_interrupt() as terminated, progress:
            history = trainer.fit(resume=resume)
    except TapfinderError as e:
        _fail(e, debug)
        return
    except KeyboardInterrupt:
        why = "terminated" if terminated else "interrupted"
        err_console.print(f"[yellow]{why}:[/] the checkpoint of epoch {trainer.epoch} is in {out}/last.pt; "
                          "continue with --resume")
        raise typer.Exit(code=143 if terminated else 130) from None
    epochs_run = f"{len(history)} epoch{'s' * (len(history) != 1)}"
    console.print(f"[bold]done[/]: {epochs_run}; run in {out} (metrics.jsonl, last.pt, best.pt)")
    console.print(render_run_end(history))
    console.print(f"export the model without heads with `tapfinder export {out} --out model.pt` "
                  "(add --best for the best epoch)")


@app.command()
def export(
    source: Annotated[str, typer.Argument(help="a run folder from `tapfinder train`, or a model name / FILE.py")],
    *,
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    format: Annotated[str, typer.Option("--format", help="state_dict or onnx (a model name: onnx only)")] = "",
    with_taps: Annotated[bool, typer.Option("--with-taps", help="ONNX: add the tap points as extra outputs")] = False,
    points: Annotated[str, typer.Option(help="tap points when --with-taps: 'auto', a count or names")] = "auto",
    input_shape: Annotated[Optional[str], typer.Option("--input-shape", help="example input shape, e.g. 1,3,224,224")] = None,
    torchscript: Annotated[bool, typer.Option("--torchscript", help="use the TorchScript exporter, not dynamo")] = False,
    best: Annotated[bool, typer.Option("--best", help="a run: its best epoch (best.pt), not the last")] = False,
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Write a trained run's model without its heads (state_dict or ONNX), or export MODEL to ONNX."""
    from tapfinder.errors import TapfinderError

    if not out.parent.is_dir():
        _fail(TapfinderError(f"cannot write {out}: folder {out.parent} does not exist; create it first"), debug)
    try:
        if Path(source).is_dir():
            from deepsup.run import export_run

            fmt = format or ("onnx" if out.suffix == ".onnx" else "state_dict")
            path, report = export_run(source, out, fmt, dynamo=not torchscript,
                                      checkpoint="best" if best else "last")
            if report is None:
                console.print(f"wrote {path}: the original architecture's state_dict (heads dropped); it loads "
                              "with strict=True into a freshly built model")
                return
        elif "/" in source and not source.endswith((".py", ".onnx")) and ".py:" not in source:
            raise TapfinderError(f"no run folder {source!r}; give the --out folder of a `tapfinder train` run, "
                                 "or a model name / FILE.py")
        else:
            from tapfinder.onnx_export import export_source
            from tapfinder.sources import parse_input_shape

            if format not in ("", "onnx") or best:
                flag = "--best" if best else f"--format {format}"
                raise TapfinderError(f"a model name exports to onnx only; {flag} needs a run folder")
            report = export_source(source, out, with_taps=with_taps, points=points, dynamo=not torchscript,
                                   input_shape=parse_input_shape(input_shape) if input_shape else None)
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
