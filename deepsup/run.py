"""A training run as the CLI sees it: prepare (model, data, points, heads, loss), train, export.

A run folder holds ``last.pt`` (the checkpoint), ``metrics.jsonl``, ``selection.json`` and
``run.json`` (what was asked for, so ``export`` and ``--resume`` can rebuild the same model).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from tapfinder.errors import ConfigError
from tapfinder.frontends.modes import in_mode

from .baseline_check import (
    CHOICE_FILE,
    Choice,
    baseline_folder,
    decide,
    deepest_folder,
    read_choice,
    write_choice,
)
from .checks import check_dataset
from .data import DataSpec, absolute_data, load_data
from .distributed import process_device, world
from .losses import (
    LossConfig,
    loss_config,
    main_logits,
    make_loss,
    resolve_recipe,
)
from .trainer import (
    FREE_ON_RESUME,
    SAVED_BEFORE,
    TrainConfig,
    Trainer,
    call_model,
    check_head_gradient,
    extension_refused,
)

__all__ = [
    "RunSpec",
    "PreparedRun",
    "SettingsMismatch",
    "check_out",
    "check_resume",
    "prepare",
    "trainer_for",
    "checks_baseline",
    "prepare_baseline",
    "prepare_deepest",
    "train",
    "Trained",
    "trained_model",
    "export_run",
    "resolve_recipe",
]


@dataclass(frozen=True)
class RunSpec:
    model: str
    data: str = "mnist1d"
    points: str = "auto"
    recipe: str = "auto"
    adapter: str = "dks"
    head_norm: str = (
        "auto"  # BatchNorm in map heads: auto (as the backbone normalizes), batch, none
    )
    head_gradient: str = "full"  # a head's gradient into the model (tapfinder.taps.attach)
    train: TrainConfig = field(default_factory=TrainConfig)
    image_size: int = 32
    loss: dict = field(
        default_factory=dict
    )  # the recipe's options changed from their defaults (losses.READ_BY)
    device: str = "auto"  # where it trains; a resume may move it
    # also train without heads and keep the run whose main head fits better (baseline_check);
    # None: with ``recipe="auto"`` (the default), not with a recipe named
    check_baseline: bool | None = None

    def __post_init__(self):
        if self.recipe != "baseline":  # before any data loads: the two settings do not go together
            check_head_gradient(self.train, self.head_gradient)
        elif self.check_baseline:
            raise ConfigError(
                "`check_baseline` compares a run with heads with the same run without them; "
                "`recipe=baseline` trains no heads: drop one of the two"
            )


@dataclass
class PreparedRun:
    spec: RunSpec
    model: nn.Module  # the original architecture (tapped.model when tapped)
    net: nn.Module  # what trains: the model or a TappedModel
    data: DataSpec
    selection: object | None
    heads: list  # (point, params, flops, design) per head
    model_params: int
    model_flops: int
    loss: LossConfig | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    build: object = None  # tapfinder.sources.Build: what the model was built with


def _flops(module: nn.Module, example) -> int:
    """FLOPs of ``module`` on one sample's batch ``example``."""
    from torch.utils.flop_counter import FlopCounterMode

    with in_mode(module, False), torch.no_grad(), FlopCounterMode(display=False) as counter:
        call_model(module, example)
    return int(counter.get_total_flops())


def check_out(out: str | Path, resume: bool) -> None:
    """Refuse a run folder that cannot be written, or that holds a run not being resumed (nothing is
    lost by a typo); nothing is created here."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"cannot write the run to {out}: it is a file; give a folder as `out`")
    held = any(
        (folder / "last.pt").exists() for folder in (out, baseline_folder(out), deepest_folder(out))
    )
    if held and not resume:
        raise ConfigError(f"{out} already holds a run; `resume` it or choose another `out`")
    _check_writable(out)


def _check_writable(folder: Path) -> None:
    """Whether ``folder`` (or the folder it would be made in) takes new files: a probe made and
    removed."""
    import tempfile

    base = folder
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"cannot write the run to {folder}: {base} is a file; give another `out`")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tapfinder-probe-", dir=base))
    except OSError as e:
        raise ConfigError(
            f"cannot write the run to {folder}: {e.strerror or e} in {base}; give another `out`"
        ) from e


def example_batch(dataset, n: int = 2):
    """The inputs of the first ``n`` samples of ``dataset``, batched as the trainer batches them."""
    from torch.utils.data import default_collate

    return default_collate([dataset[i][0] for i in range(min(n, len(dataset)))])


def as_inputs(x) -> tuple:
    """A batch input as the positional arguments of the model (a tuple spreads, as in training)."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _check_fits(model: nn.Module, example, data: DataSpec) -> None:
    """The model must take the data's samples and predict its number of classes."""
    try:
        with in_mode(model, False), torch.no_grad():
            out = call_model(model, example)
    except Exception as e:
        shape = (
            f"of shape {tuple(data.input_shape)}"
            if data.input_shape
            else f"({type(example).__name__})"
        )
        raise ConfigError(
            f"the model cannot take the data's samples {shape}: "
            f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        ) from e
    out = main_logits(out)
    shape = list(out.shape)
    if data.task == "token":
        if out.dim() != 3 or tuple(out.shape[:2]) != tuple(example.shape[:2]):
            raise ConfigError(
                f"the data is a token task (a target per position) but the model predicts "
                f"{shape}, not [N, T, {data.num_classes}]"
            )
        if out.shape[-1] != data.num_classes:
            raise ConfigError(
                f"the model predicts {out.shape[-1]} classes per token but the data has "
                f"{data.num_classes}; give it a num_classes (vocabulary) argument"
            )
        return
    if (
        data.task == "segmentation"
        and isinstance(example, torch.Tensor)
        and out.dim() != example.dim()
    ):
        raise ConfigError(
            f"the data is segmentation (a label per pixel) but the model predicts {shape}, not a "
            "map "
            f"[N, {', '.join(map(str, [data.num_classes, *example.shape[2:]]))}]; use a "
            "segmentation model such as "
            "unet_small or a torchvision segmentation model"
        )
    if data.task == "classification" and out.dim() != 2:
        raise ConfigError(
            f"the data is classification (a label per sample) but the model predicts {shape}, not "
            f"[N, {data.num_classes}]; give it a pooled classifier head"
        )
    if out.shape[1] != data.num_classes:
        raise ConfigError(
            f"the model predicts {out.shape[1]} classes but the data has {data.num_classes}; "
            "give its class or build_model() a num_classes argument, or build it for "
            f"{data.num_classes} classes"
        )


def build_for(input_shape: tuple, num_classes: int, channels_last: bool = False):
    """What a model is built with for data of ``input_shape`` (one sample) and ``num_classes``;
    ``channels_last`` reads a [T, C] sample's last axis as its channels.

    >>> build_for((3, 32, 32), 5)
    Build(num_classes=5, in_channels=3, image_size=(32, 32))
    >>> build_for((12, 8), 3, channels_last=True)
    Build(num_classes=3, in_channels=8, image_size=None)
    """
    from tapfinder.sources import Build

    if not input_shape:  # a tuple or dict of inputs: the model file knows their channels
        return Build(num_classes)
    return Build(
        num_classes,
        input_shape[-1] if channels_last else input_shape[0],
        tuple(input_shape[1:]) if len(input_shape) == 3 else None,
    )


def _readings(input_shape: tuple, num_classes: int) -> list:
    """The builds a sample's shape allows: channels first ([C, L] signals, images), and for a [T, C]
    sample with another last axis, channels last (sequences of feature vectors)."""
    builds = [build_for(input_shape, num_classes)]
    if len(input_shape) == 2 and input_shape[-1] != input_shape[0]:
        builds.append(build_for(input_shape, num_classes, channels_last=True))
    return builds


def checks_baseline(spec: RunSpec) -> bool:
    """Whether the run also trains without heads (``deepsup.baseline_check``): as asked, else with
    the ``auto`` recipe; never for a run without heads.

    >>> checks_baseline(RunSpec("m.py")), checks_baseline(RunSpec("m.py", recipe="dsn"))
    (True, False)
    >>> checks_baseline(RunSpec("m.py", recipe="baseline"))
    False
    """
    if spec.recipe == "baseline":
        return False
    return spec.recipe == "auto" if spec.check_baseline is None else spec.check_baseline


def _tapped(spec: RunSpec, model: nn.Module, data: DataSpec, example) -> tuple:
    """``(selection, net, heads)``: ``spec.points`` of ``model`` selected and headed as
    :class:`PreparedRun` holds them."""
    from tapfinder.adapters import adapter_cost, describe_adapter
    from tapfinder.api import select_points
    from tapfinder.selector import normalize_points
    from tapfinder.taps import attach

    selection = select_points(model, as_inputs(example), points=normalize_points(spec.points))
    if not selection.points:  # deep supervision without heads would be a baseline run in disguise
        why = selection.notes[-1] if selection.notes else "no candidate point"
        raise ConfigError(
            f"no point of {spec.model} can carry a head ({why}); name points with "
            "`points`, or train with `recipe=baseline`"
        )
    net = attach(
        model,
        selection,
        task=data.task,
        num_classes=data.num_classes,
        adapter=spec.adapter,
        head_norm=spec.head_norm,
        head_gradient=spec.head_gradient,
    )
    heads = [
        (
            point.name,
            *adapter_cost(net.head(name), tuple(point.shape)),
            describe_adapter(net.head(name)),
        )
        for point, name in zip(selection.points, net.points)
    ]
    return selection, net, heads


def prepare(spec: RunSpec) -> PreparedRun:
    """Build everything a run needs; nothing is trained yet (the preview comes from this)."""
    from tapfinder.sources import absolute_spec, load_model

    device = process_device(spec.device)
    if (
        resolve_recipe(spec.recipe, "classification") == spec.recipe
    ):  # bad names and options fail before
        loss_config(spec.recipe, **spec.loss)  # the data is built
    data = load_data(spec.data, spec.image_size)
    check_dataset(data.train, "train", data.task, data.num_classes)
    check_dataset(data.val, "val", data.task, data.num_classes)
    # run.json keeps what trained, and paths that hold from any folder
    spec = replace(
        spec,
        recipe=resolve_recipe(spec.recipe, data.task),
        check_baseline=checks_baseline(spec),
        model=absolute_spec(spec.model),
        data=absolute_data(spec.data),
    )
    loss = loss_config(spec.recipe, **spec.loss)
    example = example_batch(data.train)
    failed = []
    for build in _readings(data.input_shape, data.num_classes):  # the first reading the model takes
        torch.manual_seed(spec.train.seed)
        model = load_model(spec.model, build).model
        try:
            _check_fits(model, example, data)
            break
        except ConfigError as e:
            failed.append(e)
    else:
        raise failed[0]
    selection, net, heads = None, model, []
    if spec.recipe != "baseline":
        selection, net, heads = _tapped(spec, model, data, example)
    return PreparedRun(
        spec,
        model,
        net,
        data,
        selection,
        heads,
        sum(p.numel() for p in model.parameters()),
        _flops(model, example_batch(data.train, 1)),
        loss,
        device,
        build,
    )


def prepare_baseline(run: PreparedRun) -> PreparedRun:
    """The baseline check's run: ``run`` without heads, on the same data, from the same seed's
    model (exactly what ``recipe="baseline"`` trains), its spec saying so."""
    from tapfinder.sources import load_model

    spec = replace(run.spec, recipe="baseline", points="auto", loss={}, check_baseline=False)
    torch.manual_seed(spec.train.seed)  # as prepare builds it: the same initial weights
    model = load_model(spec.model, run.build).model
    return replace(
        run,
        spec=spec,
        model=model,
        net=model,
        selection=None,
        heads=[],
        loss=loss_config("baseline"),
    )


def prepare_deepest(run: PreparedRun, point: str) -> PreparedRun:
    """The baseline check's retry: ``run`` with only its head at ``point``, on the same data, from
    the same seed's model, recipe and settings, its spec saying so."""
    from tapfinder.sources import load_model

    spec = replace(run.spec, points=point, check_baseline=False)
    torch.manual_seed(spec.train.seed)  # as prepare builds it: the same initial weights
    model = load_model(spec.model, run.build).model
    selection, net, heads = _tapped(spec, model, run.data, example_batch(run.data.train))
    return replace(run, spec=spec, model=model, net=net, selection=selection, heads=heads)


_LOSS_DEFAULTS = {k: v for k, v in asdict(LossConfig()).items() if k != "recipe"}
# what a resume may change: where and how fast it runs, the model's path (its architecture is
# checked against the checkpoint instead) and the epochs (see trainer.extension_refused)
_FREE = (*FREE_ON_RESUME, "device", "model", "epochs")


def _settings(spec: dict) -> dict:
    """A run spec as flat settings, named as the parameters that set them (the loss options with
    their defaults filled in), without those a resume may change.

    >>> train = {"epochs": 2, "seed": 1}
    >>> spec = {"model": "m.py", "image_size": 32, "train": train, "loss": {"kd": 1}}
    >>> s = _settings(spec)
    >>> {k: s[k] for k in ("image_size", "seed", "kd", "alpha")}, "model" in s, "epochs" in s
    ({'image_size': 32, 'seed': 1, 'kd': 1, 'alpha': None}, False, False)
    """
    flat = {
        **{k: v for k, v in spec.items() if k not in ("train", "loss")},
        **spec.get("train", {}),
        **_LOSS_DEFAULTS,
        **spec.get("loss", {}),
    }
    return {k: v for k, v in flat.items() if k not in _FREE}


class SettingsMismatch(ConfigError):
    """A resume asked for other settings than the run was trained with; ``changed`` holds the saved
    ones."""

    def __init__(self, out, changed: dict):
        self.changed = changed
        was = " ".join(f"`{k}={v}`" for k, v in changed.items())
        super().__init__(
            f"{out} was trained with {was}; pass the same to resume it, or train into a new `out`"
        )


def _architecture(state: dict) -> dict:
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


def _first_difference(saved: dict, now: dict) -> str:
    """The first tensor of a state_dict that is missing, extra or of another shape, in words."""
    for key in saved.keys() | now.keys():
        if key not in now:
            return f"the model has no {key}"
        if key not in saved:
            return f"the checkpoint has no {key}"
        if saved[key] != now[key]:
            return f"{key} is {list(now[key])} in the model, {list(saved[key])} in the checkpoint"
    return ""


def check_resume(out: str | Path, run: PreparedRun) -> None:
    """A resume continues the run in ``out`` only with the settings it was started with, on the same
    architecture, and to as many epochs or more where the schedule allows it (call it before the
    preview: ``trainer_for`` rewrites ``run.json``).

    Raises:
        SettingsMismatch: other settings. ConfigError: another architecture, or epochs it cannot
        reach.
    """
    path = Path(out) / "run.json"
    if not path.is_file():
        return
    raw = json.loads(path.read_text())
    # a training setting the saved run predates: as that run trained (SAVED_BEFORE)
    saved, now = {**SAVED_BEFORE, **_settings(raw["spec"])}, _settings(asdict(run.spec))
    if "loss_config" in raw:  # the loss as it trained: a default may differ in another version
        saved.update(
            _settings({"loss": raw["loss_config"]})
        )  # (``now`` has this version's defaults filled in)
    changed = {k: saved[k] for k in now if k in saved and saved[k] != now[k]}
    if changed:
        raise SettingsMismatch(out, changed)
    checkpoint = Path(out) / "last.pt"
    if not checkpoint.is_file():
        return
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    difference = _first_difference(
        _architecture(state["model"]), _architecture(run.model.state_dict())
    )
    if difference:
        raise ConfigError(
            f"{checkpoint} does not fit the model {run.spec.model}: {difference}; give the "
            "`model` the run trained"
        )
    refused = extension_refused(
        state["config"]["train"], run.spec.train, state["epoch"], run.loss.alpha_decay
    )
    if refused:
        raise ConfigError(f"{out} cannot go on to {run.spec.train.epochs} epochs: {refused}")


def trainer_for(run: PreparedRun, out: str | Path | None, on_epoch=None, on_step=None) -> Trainer:
    """The trainer of a prepared run; it writes ``run.json`` and ``selection.json`` into ``out``."""
    layouts = getattr(run.net, "layouts", [])
    loss = make_loss(run.spec.recipe, layouts=layouts, task=run.data.task, **run.spec.loss)
    spec = {
        "spec": asdict(run.spec),
        "input_shape": list(run.data.input_shape),
        "input_dtype": str(tree_leaves(example_batch(run.data.train, 1))[0].dtype).replace(
            "torch.", ""
        ),
        "task": run.data.task,
        "num_classes": run.data.num_classes,
        "build": asdict(run.build) if run.build is not None else None,
        "loss_config": {k: v for k, v in asdict(run.loss).items() if k != "recipe"},
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(spec, indent=1))
        if run.selection is not None:
            (out / "selection.json").write_text(run.selection.to_json())
    return Trainer(
        run.net,
        loss,
        run.data.train,
        run.data.val,
        run.spec.train,
        out=out,
        task=run.data.task,
        num_classes=run.data.num_classes,
        device=run.device,
        extra={"run": spec},
        on_epoch=on_epoch,
        on_step=on_step,
        checked=bool(run.spec.check_baseline),
    )


@dataclass
class Trained:
    history: list[dict]  # the run's metrics rows (with heads, where it has them)
    baseline: list[dict] | None = None  # the baseline check's run without heads
    choice: Choice | None = None  # which run the check keeps
    deepest: list[dict] | None = None  # the check's retry with the deepest point alone, if any

    def kept(self) -> list[dict]:
        """The metrics rows of the run the check kept (the run's own without a check)."""
        kept = self.choice.kept if self.choice is not None else "heads"
        return {"heads": self.history, "baseline": self.baseline, "deepest": self.deepest}[kept]


def fit_plainly(resume: bool = False):
    """The ``fit`` of :func:`train`: a trainer per stage, without progress output."""
    return lambda run, folder, stage: trainer_for(run, folder).fit(resume=resume)


def train(run: PreparedRun, out: str | Path | None, fit=None) -> Trained:
    """Train ``run`` into ``out``; where it checks the baseline, then the same run without heads
    into ``out/baseline`` (and, where the main head ended behind an aux head, the same run with the
    deepest point alone into ``out/deepest``), and write which one the run keeps into ``out``
    (``choice.json``).

    ``fit(run, folder, stage)`` trains one prepared run into ``folder`` and returns its rows;
    ``stage`` is ``"heads"``, ``"baseline"`` or ``"deepest"`` (default: :func:`fit_plainly`).
    """
    fit = fit or fit_plainly()
    if run.spec.check_baseline and out is not None and world()[0] == 0:
        (Path(out) / CHOICE_FILE).unlink(missing_ok=True)  # a choice of runs that train on is stale
    history = fit(run, out, "heads")
    if not run.spec.check_baseline:
        return Trained(history)
    run.net.to("cpu")  # each trained run waits off the accelerator while the next trains

    def train_deepest(point: str) -> list[dict]:
        retry = prepare_deepest(run, point)
        rows = fit(retry, _inside(out, deepest_folder), "deepest")
        retry.net.to("cpu")
        return rows

    choice, baseline, deepest = decide(
        history,
        lambda: fit(prepare_baseline(run), _inside(out, baseline_folder), "baseline"),
        run.selection.names,
        train_deepest,
    )
    if out is not None and world()[0] == 0:  # under torchrun every process has the same rows
        write_choice(out, choice)
    return Trained(history, baseline, choice, deepest)


def _inside(out: str | Path | None, folder) -> Path | None:
    return folder(out) if out is not None else None


def load_run_spec(folder: str | Path) -> tuple[RunSpec, dict]:
    """(the run's spec, what its data looked like: input_shape, task, num_classes)."""
    path = Path(folder) / "run.json"
    if not path.is_file():
        raise ConfigError(
            f"{folder} is not a training run (no run.json); give the folder a training run wrote "
            "(as tapfinder train writes them)"
        )
    raw = json.loads(path.read_text())
    spec = raw["spec"]
    train = TrainConfig(**{**SAVED_BEFORE, **spec["train"]})  # as a run from before them trained
    return RunSpec(**{**spec, "train": train}), {k: v for k, v in raw.items() if k != "spec"}


def _saved_build(shapes: dict):
    """The build a run's model was made with (runs from before ``run.json`` kept it: channels
    first)."""
    from tapfinder.sources import Build

    saved = shapes.get("build")
    if not saved:
        return build_for(tuple(shapes["input_shape"]), shapes["num_classes"])
    return Build(
        saved["num_classes"],
        saved["in_channels"],
        tuple(saved["image_size"]) if saved["image_size"] else None,
    )


def _model_file_missing(spec: str) -> bool:
    path = spec.partition(".py:")[0] + ".py" if ".py:" in spec else spec
    return path.endswith(".py") and not Path(path).is_file()


RUNS = ("kept", "heads")


def kept_folder(folder: str | Path, run: str = "kept") -> Path:
    """The run folder whose weights ``folder`` ships: for ``run="kept"`` the one its baseline check
    kept (``folder`` itself without a check; its ``baseline`` or ``deepest`` folder where the check
    kept that run), for ``"heads"`` the run with heads.

    Raises:
        ConfigError: an unknown ``run``, or a check not finished yet.
    """
    folder = Path(folder)
    if run not in RUNS:
        raise ConfigError(f"`run` must be kept or heads, got {run!r}")
    if run == "heads":
        return folder
    choice = read_choice(folder)
    if choice is None and load_run_spec(folder)[0].check_baseline:
        raise ConfigError(
            f"{folder} has not finished its baseline check (no choice.json); finish it by "
            "resuming its training (`fit(resume=True)`), or take the run with heads with "
            "`run=heads`"
        )
    if choice is None or choice.kept == "heads":
        return folder
    return baseline_folder(folder) if choice.kept == "baseline" else deepest_folder(folder)


def trained_model(
    folder: str | Path, checkpoint: str = "last", model: str | None = None, run: str = "kept"
) -> nn.Module:
    """The run's model with the weights of its ``checkpoint`` (``last`` or ``best``), built from the
    run's model spec or from ``model`` (the same architecture, its file moved since); ``run``: see
    :func:`kept_folder`.

    Raises:
        ConfigError: no checkpoint, a model file that is gone, or one that no longer fits it.
    """
    from tapfinder.sources import load_model

    folder = kept_folder(folder, run)
    spec, shapes = load_run_spec(folder)
    ckpt = Path(folder) / f"{checkpoint}.pt"
    if not ckpt.is_file():
        raise ConfigError(f"{folder} has no checkpoint yet ({ckpt.name}); train first")
    source = model or spec.model
    if _model_file_missing(source):
        raise ConfigError(f"the model file {source} of {folder} is gone; point at it with `model`")
    built = load_model(source, _saved_build(shapes)).model
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
    difference = _first_difference(_architecture(state), _architecture(built.state_dict()))
    if difference:
        raise ConfigError(
            f"{ckpt} does not fit the model {source} (changed since the run trained?): "
            f"{difference}; give the `model` the run trained"
        )
    built.load_state_dict(state, strict=True)
    return built


def export_run(
    folder: str | Path,
    out: str | Path,
    fmt: str = "state_dict",
    dynamo: bool = True,
    checkpoint: str = "last",
    model: str | None = None,
    run: str = "kept",
):
    """Write the trained model without its heads: a ``state_dict`` that loads strictly into a
    freshly
    built original, or an ONNX graph of exactly the original's nodes. ``checkpoint``: ``last`` or
    ``best`` (the epoch with the best main-head validation score); ``model``: see
    :func:`trained_model`; ``run``: see :func:`kept_folder`.
    Nothing is left behind when it fails."""
    out = Path(out)
    if fmt not in ("state_dict", "onnx"):
        raise ConfigError(f"`format` must be state_dict or onnx, got {fmt!r}")
    if out.is_dir():
        raise ConfigError(f"cannot write {out}: it is a folder; give a file path as `out`")
    trained = trained_model(folder, checkpoint, model, run)
    if fmt == "onnx":
        from tapfinder.onnx_export import export_onnx
        from tapfinder.sources import random_input

        shapes = load_run_spec(folder)[1]
        if not shapes["input_shape"]:
            raise ConfigError(
                f"{folder} trained on tuple or dict inputs; ONNX export takes one tensor "
                "input (export a state_dict instead)"
            )
        dtype = getattr(torch, shapes.get("input_dtype", "float32"))
        shape = (1, *shapes["input_shape"])
        example = (
            random_input(shape) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        )
        return out, export_onnx(trained, (example,), out, dynamo=dynamo)
    tmp = out.with_suffix(out.suffix + ".tmp")
    try:
        torch.save(trained.state_dict(), tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out, None
