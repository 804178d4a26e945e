"""``tapfinder train``: check every input, preview, ask, train with a progress bar, summarise."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from .errors import cli_text, fail
from .inspecting import stages
from .render import render_train_row

__all__ = ["TrainOptions", "run_train"]


@dataclass(frozen=True)
class TrainOptions:
    model: str
    data: str
    points: str
    recipe: str
    adapter: str
    head_norm: str
    head_gradient: str
    image_size: int
    loss: dict
    device: str
    train: dict = field(default_factory=dict)
    check_baseline: bool | None = None
    out: Path = Path("runs/last")
    resume: bool = False
    yes: bool = False
    quiet: bool = False


CHECK_LINE = (
    "then the same run without heads, to keep the heads only where the main head does no worse "
    "with them, and where the main head ends behind an aux head the same run with the deepest "
    'point alone (docs/recipes.md, "The baseline check"); --no-check-baseline trains the heads '
    "alone"
)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (``kill``, a cluster's preemption, ``timeout``) stops training the way Ctrl-C does,
    with a line saying where the last checkpoint is; the yielded list says whether it came."""
    import signal
    import threading

    came: list = []

    def stop(signum, frame):
        came.append(signum)
        raise KeyboardInterrupt

    if (
        threading.current_thread() is not threading.main_thread()
    ):  # only the main thread may set handlers
        yield came
        return
    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, before)


def _prepare(opts: TrainOptions, console: Console):
    from deepsup.baseline_check import baseline_folder, deepest_folder
    from deepsup.distributed import world
    from deepsup.run import (
        RunSpec,
        check_out,
        check_resume,
        load_run_spec,
        prepare,
        prepare_baseline,
        prepare_deepest,
    )
    from deepsup.trainer import TrainConfig
    from tapfinder.errors import ConfigError

    if world()[1] > 1 and not opts.yes:
        raise ConfigError(
            "under torchrun every process would ask; look with `tapfinder inspect` first and "
            "pass `yes`"
        )
    cfg = TrainConfig(**opts.train)
    check_out(opts.out, opts.resume)
    spec = RunSpec(
        model=opts.model,
        data=opts.data,
        points=opts.points,
        recipe=opts.recipe,
        adapter=opts.adapter,
        head_norm=opts.head_norm,
        head_gradient=opts.head_gradient,
        train=cfg,
        image_size=opts.image_size,
        loss=opts.loss,
        device=opts.device,
        check_baseline=opts.check_baseline,
    )
    with stages(Console(stderr=True, quiet=console.quiet), "loading the data"):
        run = prepare(spec)
    if opts.resume:
        check_resume(opts.out, run)
        if run.spec.check_baseline:
            check_resume(baseline_folder(opts.out), prepare_baseline(run))
            retried = deepest_folder(opts.out)
            if (retried / "run.json").is_file():  # the check had begun its retry
                point = load_run_spec(retried)[0].points
                check_resume(retried, prepare_deepest(run, point))
    return run


def _preview(run, console: Console, seconds: float) -> None:
    from deepsup.losses import describe
    from tapfinder.profile import depth_profile

    from .render import render_heads, render_points, render_profile, render_summary, render_training

    if run.selection is not None:
        console.print(render_summary(run.selection, seconds))
        console.print(render_points(run.selection))
        console.print(
            render_profile(depth_profile(run.selection, width=min(60, max(console.width - 14, 20))))
        )
        for note in run.selection.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    if run.data.description:
        console.print(f"[bold]data[/]  {run.data.description}", highlight=False)
    console.print(
        f"[bold]loss[/]  {run.spec.recipe}: {describe(run.loss, run.data.task)}", highlight=False
    )
    console.print(f"[bold]train[/] {render_training(run)}", highlight=False)
    if run.spec.check_baseline:
        console.print(f"[bold]check[/] {CHECK_LINE}", highlight=False)
    if run.heads:
        console.print(render_heads(run))


def _confirmed() -> bool:
    try:
        return typer.confirm("Train with these points?", default=True)
    except typer.Abort:  # no terminal to answer on (a script, a pipe)
        fail(
            "nothing answered 'Train with these points?' (no terminal); add --yes to train "
            "without asking"
        )
        return False


def _fit_with_progress(console: Console, epochs: int, resume: bool, flags: dict):
    """The ``fit`` of :func:`deepsup.run.train`: each stage with a progress bar and its epochs'
    rows; Ctrl-C or SIGTERM says where that stage's checkpoint is."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from deepsup.run import trainer_for

    def fit(run, folder, stage):
        if stage == "baseline":
            console.print(
                f"[bold]check[/] the same run without heads, into {folder}", highlight=False
            )
        elif stage == "deepest":
            console.print(
                f"[bold]check[/] the main head ended behind an aux head: the same run with "
                f"{run.spec.points} alone (the deepest point), into {folder}",
                highlight=False,
            )
        progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        bar = progress.add_task("train", total=1, epoch=0, loss=float("nan"))

        def step(epoch, done, total, loss):
            progress.update(
                bar, completed=done, total=total, epoch=f"{epoch + 1}/{epochs}", loss=loss
            )

        def epoch_done(row):
            progress.console.print(render_train_row(row, epochs))
            if row.get("guard"):
                progress.console.print(
                    f"[yellow]warning:[/] {escape(cli_text(row['guard'], flags))}",
                    highlight=False,
                )

        trainer = trainer_for(run, folder, on_epoch=epoch_done, on_step=step)
        try:
            with _sigterm_as_interrupt() as terminated, progress:
                return trainer.fit(resume=resume)
        except KeyboardInterrupt:
            why = "terminated" if terminated else "interrupted"
            Console(stderr=True).print(
                f"[yellow]{why}:[/] the checkpoint of epoch {trainer.epoch} is in "
                f"{folder}/last.pt; continue with --resume",
                highlight=False,
            )
            raise typer.Exit(code=143 if terminated else 130) from None

    return fit


def run_train(opts: TrainOptions, flags: dict | None = None) -> None:
    from deepsup.distributed import world
    from deepsup.run import train

    from .render import render_run_end

    flags = flags or {}
    console = Console(quiet=opts.quiet or world()[0] != 0)  # under torchrun only rank 0 speaks
    started = time.perf_counter()
    run = _prepare(opts, console)
    _preview(run, console, time.perf_counter() - started)
    if not opts.yes and not _confirmed():
        raise typer.Exit(code=0)
    fit = _fit_with_progress(console, run.spec.train.epochs, opts.resume, flags)
    trained = train(run, opts.out, fit)
    history = trained.history
    result = Console(quiet=world()[0] != 0)
    epochs_run = f"{len(history)} epoch{'s' * (len(history) != 1)}"
    result.print(
        f"[bold]done[/]: {epochs_run}; run in {opts.out} (metrics.jsonl, last.pt, best.pt)",
        highlight=False,
        soft_wrap=True,
    )
    warnings = [row["guard"] for row in history if row.get("guard")]
    for line in warnings[-3:]:  # the last ones say where the run ended up
        result.print(
            f"[yellow]warning:[/] {escape(cli_text(line, flags))}",
            highlight=False,
            soft_wrap=True,
        )
    if trained.choice is not None:
        result.print(f"[bold]check[/]: {trained.choice.line()}", highlight=False, soft_wrap=True)
    if not opts.quiet:
        console.print(render_run_end(trained.kept()))
        console.print(
            f"export the model without heads with `tapfinder export {opts.out} --out model.pt` "
            "(add --best for the best epoch)"
            + (
                "; it exports the run the check kept (--run heads: the run with heads)"
                if trained.choice is not None
                else ""
            ),
            highlight=False,
        )
