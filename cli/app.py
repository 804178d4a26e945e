"""``tapfinder`` commands: each declares its options and forwards; torch is imported lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import command_flags, user_errors

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find where to attach deep-supervision heads in any PyTorch model.",
)

_DATA, _LOSS, _TRAIN, _RUN = (
    "Model and data",
    "Loss (defaults in brackets)",
    "Training",
    "Run folder and output",
)
_DEBUG = Annotated[bool, typer.Option("--debug", help="show full tracebacks")]
_QUIET = Annotated[bool, typer.Option("--quiet", "-q", help="print only the result")]
_POINTS = Annotated[
    str, typer.Option(help="auto (about log D), a count, or node names a,b", metavar="P")
]
_SHAPE = Annotated[
    Optional[str],
    typer.Option("--input-shape", help="example input, e.g. 1,3,64,64", metavar="SHAPE"),
]


@app.callback()
def _root() -> None:
    """Find where to attach deep-supervision heads in any PyTorch model."""


@app.command()
@user_errors
def inspect(
    model: Annotated[
        str,
        typer.Argument(
            help="a zoo name (resnet50, timm:convnext_tiny, hf:bert), FILE.py[:NAME] or FILE.onnx"
        ),
    ],
    *,
    points: _POINTS = "auto",
    input_shape: _SHAPE = None,
    input_dtype: Annotated[
        Optional[str],
        typer.Option(
            "--input-dtype", metavar="T", help="dtype of --input-shape: float32, long, ..."
        ),
    ] = None,
    all_candidates: Annotated[
        bool, typer.Option("--all", help="list every candidate and why")
    ] = False,
    json_out: Annotated[
        Optional[str],
        typer.Option("--json", metavar="FILE", help="write the selection as JSON (- for stdout)"),
    ] = None,
    quiet: _QUIET = False,
    debug: _DEBUG = False,
) -> None:
    """Preview where deep-supervision heads go: graph → candidates → about log D points."""
    from .inspecting import run_inspect

    run_inspect(
        model,
        points=points,
        input_shape=input_shape,
        input_dtype=input_dtype,
        all_candidates=all_candidates,
        json_out=json_out,
        quiet=quiet,
    )


@app.command()
@user_errors
def train(
    *,
    model: Annotated[
        str,
        typer.Option(
            help="a zoo or paper model name, or FILE.py[:NAME]", metavar="M", rich_help_panel=_DATA
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            help="mnist1d, shapes, mnist5k, digits, text, an image folder or a data .py file",
            metavar="D",
            rich_help_panel=_DATA,
        ),
    ] = "mnist1d",
    points: Annotated[
        str,
        typer.Option(
            help="auto (about log D), a count, or node names a,b",
            metavar="P",
            rich_help_panel=_DATA,
        ),
    ] = "auto",
    image_size: Annotated[
        int, typer.Option(help="image side for image folders", metavar="N", rich_help_panel=_DATA)
    ] = 32,
    recipe: Annotated[
        str,
        typer.Option(
            help="auto, baseline, dsn, dks or imachsr", metavar="R", rich_help_panel=_LOSS
        ),
    ] = "auto",
    adapter: Annotated[
        str,
        typer.Option(
            help="aux heads: dks (conv stages) or light (1x1)", metavar="A", rich_help_panel=_LOSS
        ),
    ] = "dks",
    head_norm: Annotated[
        str,
        typer.Option(
            help="BatchNorm in map heads: auto (as the model normalizes), batch, none",
            metavar="N",
            rich_help_panel=_LOSS,
        ),
    ] = "auto",
    head_gradient: Annotated[
        str,
        typer.Option(
            help="a head's gradient into the model: full, yield (to the model's own there), "
            "balance (at most the model's own there, per sample); yield and balance take "
            "--aux-state shared",
            metavar="G",
            rich_help_panel=_LOSS,
        ),
    ] = "full",
    alpha: Annotated[
        Optional[float],
        typer.Option(help="aux CE weight [per recipe]", metavar="X", rich_help_panel=_LOSS),
    ] = None,
    alpha_decay: Annotated[
        bool,
        typer.Option("--alpha-decay", help="decay alpha to 0 over training", rich_help_panel=_LOSS),
    ] = False,
    alpha_gate: Annotated[
        Optional[str],
        typer.Option(
            help="lead: an aux head's weight falls while the main head leads it; best: while any "
            "head leads it; none [lead]",
            metavar="G",
            rich_help_panel=_LOSS,
        ),
    ] = None,
    fade_by: Annotated[
        Optional[float],
        typer.Option(
            help="every aux term fades to 0 by this fraction of training",
            metavar="X",
            rich_help_panel=_LOSS,
        ),
    ] = None,
    gamma: Annotated[
        Optional[float], typer.Option(help="DSN margin [0]", metavar="X", rich_help_panel=_LOSS)
    ] = None,
    direction: Annotated[
        Optional[str],
        typer.Option(
            help="DKS synergy: auto, bi, top-down, bottom-up", metavar="S", rich_help_panel=_LOSS
        ),
    ] = None,
    beta: Annotated[
        Optional[float],
        typer.Option(help="DKS synergy weight [1]", metavar="X", rich_help_panel=_LOSS),
    ] = None,
    lam: Annotated[
        Optional[float],
        typer.Option(help="iMacHSR entropy weight [0.01]", metavar="X", rich_help_panel=_LOSS),
    ] = None,
    kd: Annotated[
        Optional[float],
        typer.Option(help="main → aux distillation weight [0]", metavar="X", rich_help_panel=_LOSS),
    ] = None,
    temperature: Annotated[
        Optional[float],
        typer.Option(help="distillation temperature [2]", metavar="X", rich_help_panel=_LOSS),
    ] = None,
    dense: Annotated[
        Optional[str],
        typer.Option(
            help="coarse dense heads: upsample or downsample", metavar="S", rich_help_panel=_LOSS
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(metavar="N", rich_help_panel=_TRAIN)] = 20,
    batch_size: Annotated[int, typer.Option(metavar="N", rich_help_panel=_TRAIN)] = 128,
    lr: Annotated[
        float, typer.Option(help="learning rate", metavar="X", rich_help_panel=_TRAIN)
    ] = 1e-3,
    optimizer: Annotated[
        str, typer.Option(help="adam, adamw or sgd", metavar="O", rich_help_panel=_TRAIN)
    ] = "adam",
    schedule: Annotated[
        str,
        typer.Option(help="onecycle, cosine, step or none", metavar="S", rich_help_panel=_TRAIN),
    ] = "onecycle",
    step_size: Annotated[
        int, typer.Option(help="epochs between step decays", metavar="N", rich_help_panel=_TRAIN)
    ] = 10,
    weight_decay: Annotated[float, typer.Option(metavar="X", rich_help_panel=_TRAIN)] = 0.0,
    clip_grad: Annotated[
        float, typer.Option(help="max gradient norm (0: off)", metavar="X", rich_help_panel=_TRAIN)
    ] = 1.0,
    aux_state: Annotated[
        str,
        typer.Option(
            help="own: the aux terms step through an optimizer state of their own; shared: one "
            "state for the summed loss",
            metavar="S",
            rich_help_panel=_TRAIN,
        ),
    ] = "own",
    check_baseline: Annotated[
        Optional[bool],
        typer.Option(
            "--check-baseline/--no-check-baseline",
            help="also train without heads, and keep the heads only where the main head fits the "
            "training set and scores on validation no worse; where the main head ends behind an "
            "aux head, also the deepest point alone [on with --recipe auto]",
            rich_help_panel=_TRAIN,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", rich_help_panel=_TRAIN)] = 0,
    limit_batches: Annotated[
        int,
        typer.Option(
            help="at most N batches an epoch (0: all)", metavar="N", rich_help_panel=_TRAIN
        ),
    ] = 0,
    log: Annotated[
        str,
        typer.Option(
            help="also log to csv, tensorboard (comma-separated)",
            metavar="L",
            rich_help_panel=_TRAIN,
        ),
    ] = "",
    device: Annotated[
        str,
        typer.Option(help="auto, cpu, cuda, cuda:N or mps", metavar="DEV", rich_help_panel=_TRAIN),
    ] = "auto",
    amp: Annotated[
        bool, typer.Option("--amp", help="mixed precision (CUDA)", rich_help_panel=_TRAIN)
    ] = False,
    compile: Annotated[
        bool,
        typer.Option("--compile", help="torch.compile model and heads", rich_help_panel=_TRAIN),
    ] = False,
    workers: Annotated[
        int, typer.Option(help="data-loading processes", metavar="N", rich_help_panel=_TRAIN)
    ] = 0,
    out: Annotated[
        Path, typer.Option(help="run folder", metavar="DIR", rich_help_panel=_RUN)
    ] = Path("runs/last"),
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the run in --out", rich_help_panel=_RUN)
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="train without asking", rich_help_panel=_RUN)
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="no preview (implies --yes): errors and the result only",
            rich_help_panel=_RUN,
        ),
    ] = False,
    debug: _DEBUG = False,
) -> None:
    """Preview the tap points and heads, then train with deep supervision."""
    from .training import TrainOptions, run_train

    loss = {
        "alpha": alpha,
        "gamma": gamma,
        "direction": direction,
        "beta": beta,
        "lam": lam,
        "kd": kd,
        "temperature": temperature,
        "dense": dense,
        "alpha_decay": alpha_decay or None,
        "alpha_gate": alpha_gate,
        "fade_by": fade_by,
    }
    run_train(
        TrainOptions(
            model=model,
            data=data,
            points=points,
            recipe=recipe,
            adapter=adapter,
            head_norm=head_norm,
            head_gradient=head_gradient,
            image_size=image_size,
            loss={k: v for k, v in loss.items() if v is not None},
            device=device,
            check_baseline=check_baseline,
            train=dict(
                epochs=epochs,
                batch_size=batch_size,
                optimizer=optimizer,
                lr=lr,
                weight_decay=weight_decay,
                schedule=schedule,
                clip_grad=clip_grad,
                aux_state=aux_state,
                amp=amp,
                seed=seed,
                workers=workers,
                step_size=step_size,
                compile=compile,
                limit_batches=limit_batches,
                log=log,
            ),
            out=out,
            resume=resume,
            yes=yes or quiet,
            quiet=quiet,
        ),
        flags=command_flags(train),
    )


@app.command()
@user_errors
def export(
    source: Annotated[
        str, typer.Argument(help="a run folder of `tapfinder train`, or a model name / FILE.py")
    ],
    *,
    out: Annotated[Path, typer.Option("--out", help="the file to write", metavar="FILE")],
    model: Annotated[
        Optional[str], typer.Option(help="a run: its model file, if moved since", metavar="M")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="state_dict or onnx [from --out's suffix]", metavar="F")
    ] = "",
    with_taps: Annotated[
        bool, typer.Option("--with-taps", help="ONNX: tap points as extra outputs")
    ] = False,
    points: _POINTS = "auto",
    input_shape: _SHAPE = None,
    torchscript: Annotated[
        bool, typer.Option("--torchscript", help="the TorchScript exporter, not dynamo")
    ] = False,
    best: Annotated[
        bool, typer.Option("--best", help="a run: its best epoch, not the last")
    ] = False,
    run: Annotated[
        str,
        typer.Option(
            "--run",
            help="a checked run: kept (the one its baseline check kept) or heads",
            metavar="R",
        ),
    ] = "kept",
    debug: _DEBUG = False,
) -> None:
    """Write a trained run's model without its heads (state_dict or ONNX), or export MODEL to
    ONNX."""
    from .exporting import run_export

    run_export(
        source,
        out=out,
        model=model,
        fmt=format,
        with_taps=with_taps,
        points=points,
        input_shape=input_shape,
        dynamo=not torchscript,
        best=best,
        run=run,
    )


@app.command()
@user_errors
def plot(
    run: Annotated[str, typer.Argument(help="a run folder of `tapfinder train`")],
    *,
    out: Annotated[Path, typer.Option("--out", help="the PNG to write", metavar="FILE")] = Path(
        "curves.png"
    ),
    debug: _DEBUG = False,
) -> None:
    """Draw a run's main head against its aux heads, and its loss terms, to a PNG."""
    from rich.console import Console

    from deepsup.plot import plot_run

    Console().print(f"wrote {plot_run(run, out)}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
