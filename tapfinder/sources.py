"""Model sources: turn what the user typed into a module and an example input.

``cifar_resnet32`` (the papers' models, :mod:`tapfinder.models`), ``resnet50`` (torchvision,
falling back to timm), ``tv:resnet50``, ``timm:convnext_tiny``,
``hf:bert`` (Hugging Face, :mod:`tapfinder.hf_source`), ``my_model.py`` (a ``build_model()`` factory, a module-level ``model``, or the file's only
``nn.Module`` class that no other class of the file uses), ``my_model.py:Name``. Weights are never downloaded (``pretrained=False``).
Example inputs come from the source (timm's ``input_size``, 224×224 images for torchvision, 112×112
16-frame clips for video models, a file's ``example_input()``) unless the user gives a shape.

Training builds the model for its data: ``num_classes``, ``in_channels`` and ``image_size`` reach
the built-in models, torchvision (classes only), timm (``num_classes``, ``in_chans``, and
``img_size`` for models that take it, such as ViTs), Hugging Face image models (``num_labels``,
``num_channels``, ViT's ``image_size``) and a file's factory or class when its
signature names them (``num_classes``; ``in_channels`` or ``in_chans``). Anything a source cannot
take is left at its default, and the trainer's fit check says what does not match.
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["ModelSource", "Build", "load_model", "parse_input_shape", "guess_example_inputs", "random_input",
           "import_file", "absolute_spec"]

BATCH = 2   # > 1 so train-mode BatchNorm accepts 1×1 features


@dataclass
class ModelSource:
    """A resolved model: the module, its example inputs (or None) and a display name."""

    model: nn.Module
    example_inputs: tuple | None
    name: str


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1,3,64,64"`` → ``(1, 3, 64, 64)``.

    >>> parse_input_shape("1, 3,64,64"), parse_input_shape("2x3x32x32")
    ((1, 3, 64, 64), (2, 3, 32, 32))
    """
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise ConfigError(f"`input_shape` must be positive integers separated by commas, like 2,3,224,224; "
                          f"got {text!r}")
    return shape


def random_input(shape) -> torch.Tensor:
    """A reproducible example input of ``shape`` (seeded, so repeated analyses see the same values)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def _torchvision_names() -> dict[str, str]:
    try:
        import torchvision.models as tvm
    except Exception:
        return {}
    kinds = {"": tvm, "segmentation": tvm.segmentation, "video": tvm.video}
    return {name: kind for kind, mod in kinds.items() for name in tvm.list_models(module=mod)}


def _timm_names() -> list[str]:
    try:
        import timm
    except Exception:
        return []
    return timm.list_models()


@dataclass(frozen=True)
class Build:
    """What the data asks of a model: its number of classes, input channels and image side."""

    num_classes: int | None = None
    in_channels: int | None = None
    image_size: tuple | None = None


def _accepted(factory, wanted: dict) -> dict:
    """The entries of ``wanted`` that ``factory``'s signature names (``in_channels`` may be ``in_chans``).

    >>> def f(num_classes=10, in_chans=3): ...
    >>> _accepted(f, {"num_classes": 4, "in_channels": 1})
    {'num_classes': 4, 'in_chans': 1}
    """
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    for key, value in wanted.items():
        names = ("in_channels", "in_chans") if key == "in_channels" else (key,)
        name = next((n for n in names if n in params), None)
        if value is not None and name is not None:
            out[name] = value
    return out


def _from_torchvision(name: str, kind: str, build: Build = Build()) -> ModelSource:
    import torchvision.models as tvm

    builder = tvm.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if build.num_classes is not None:
        kwargs["num_classes"] = build.num_classes
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True   # silences torchvision's warning about the default changing
    model = builder(**kwargs)
    shape = (BATCH, 3, 16, 112, 112) if kind == "video" else (BATCH, 3, 224, 224)
    if name.startswith("inception"):
        shape = (BATCH, 3, 299, 299)
    return ModelSource(model, (random_input(shape),), name)


def _from_timm(name: str, build: Build = Build()) -> ModelSource:
    import timm

    kwargs = {k: v for k, v in (("num_classes", build.num_classes), ("in_chans", build.in_channels)) if v is not None}
    model = None
    if build.image_size is not None:
        try:   # models with a fixed grid (ViT, Swin) are built for the data's image side
            model = timm.create_model(name, pretrained=False, img_size=build.image_size, **kwargs)
        except TypeError:   # the architecture takes any size
            pass
    model = model if model is not None else timm.create_model(name, pretrained=False, **kwargs)
    size = timm.data.resolve_data_config({}, model=model)["input_size"]
    size = (build.in_channels or size[0], *(build.image_size or size[1:]))
    return ModelSource(model, (random_input((BATCH, *size)),), f"timm:{name}")


def import_file(path: Path, prefix: str = "_tapfinder_user"):
    """Import a user's ``.py`` file as ``python file.py`` would see its imports: its own folder and
    the working directory are on ``sys.path``, so it may import its neighbours and the project's
    packages. Registered in ``sys.modules`` (pickling, dataclasses, DataLoader workers need that)."""
    for folder in (str(Path.cwd()), str(path.resolve().parent)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    mod_name = f"{prefix}_{abs(hash(path.resolve()))}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as e:
        del sys.modules[mod_name]
        raise ConfigError(f"syntax error in {path}:{e.lineno}: {e.msg}; fix the file and retry") from e
    except Exception as e:
        del sys.modules[mod_name]
        raise ConfigError(f"importing {path} failed: {type(e).__name__}: {e}") from e
    return module


def absolute_spec(spec: str) -> str:
    """``spec`` with a model file's path made absolute, so a run can rebuild it from anywhere.

    >>> absolute_spec("resnet18"), absolute_spec("/m/net.py:Net")
    ('resnet18', '/m/net.py:Net')
    """
    if not (spec.endswith(".py") or ".py:" in spec):
        return spec
    path, sep, attr = spec.partition(".py:")
    if not sep:
        return str(Path(spec).resolve())
    return f"{Path(path + '.py').resolve()}:{attr}"


def _load_file(spec: str, build: Build = Build()) -> ModelSource:
    path_text, _, attr = spec.partition(".py:")
    path = Path(path_text if spec.endswith(".py") and not attr else path_text + ".py")
    if not path.is_file():
        raise ConfigError(f"model file {str(path)!r} not found; check the path")
    module = import_file(path)
    obj, label = _pick_model(module, path, attr)
    model = _instantiate(obj, label, path, _accepted(obj, {"num_classes": build.num_classes,
                                                           "in_channels": build.in_channels}))
    example = getattr(module, "example_input", None)
    inputs = None
    if callable(example):
        value = _call_user(example, path, "example_input")
        inputs = value if isinstance(value, tuple) else (value,)
    return ModelSource(model, inputs, f"{path.name}:{label}")


def _user_line(error: BaseException, path: Path) -> str:
    """``:LINE`` of the deepest frame of ``error``'s traceback inside the user's file ``path``."""
    import traceback

    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path.resolve()]
    return f":{frames[-1].lineno}" if frames else ""


def _user_failure(error: Exception, path: Path, label: str) -> ConfigError:
    """One line for an exception raised by code of the user's file: the file, its line, the error."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ConfigError(f"{path}{_user_line(error, path)}: {label}() failed with {type(error).__name__}: "
                       f"{first[:200]}; fix the file and retry")


def _call_user(fn, path: Path, label: str):
    """Call a function of the user's file; its failure is one line naming the file and line."""
    try:
        return fn()
    except Exception as e:
        raise _user_failure(e, path, label) from e


def _pick_model(module, path: Path, attr: str):
    if attr:
        if not hasattr(module, attr):
            raise ConfigError(f"{path} has no {attr!r}; name a class, a factory or a module in the file")
        return getattr(module, attr), attr
    if callable(getattr(module, "build_model", None)):
        return module.build_model, "build_model"
    if isinstance(getattr(module, "model", None), nn.Module):
        return module.model, "model"
    classes = [v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, nn.Module)
               and v.__module__ == module.__name__]
    if not classes:
        raise ConfigError(f"{path} defines no model; add build_model(), a module-level `model`, "
                          "or an nn.Module class")
    tops = outermost_classes({c.__name__: _source(c) for c in classes})
    if len(tops) == 1:
        return getattr(module, tops[0]), tops[0]
    names = ", ".join(tops)
    raise ConfigError(f"{path} defines several models ({names}); pick one with {path}:NAME")


def _source(cls) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):   # defined by exec or in a compiled file: cannot tell what it uses
        return ""


def outermost_classes(sources: dict[str, str]) -> list[str]:
    """The classes no other class of the file names in its code: a file with ``Block`` and a ``Net``
    built from blocks defines one model, ``Net``. A class that names itself does not count.

    >>> outermost_classes({"Block": "class Block: ...", "Net": "class Net: self.b = Block()"})
    ['Net']
    >>> outermost_classes({"A": "class A: ...", "B": "class B: ..."})
    ['A', 'B']
    """
    used = {name for name in sources for other, text in sources.items()
            if other != name and re.search(rf"\b{re.escape(name)}\b", text)}
    return [name for name in sources if name not in used]


def _instantiate(obj, label: str, path: Path, kwargs: dict) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ConfigError(f"{path}:{label} is not a model, a class or a factory")
    try:
        model = obj(**kwargs)
    except TypeError as e:
        if _user_line(e, path):   # raised inside the file: a bug there, not a missing argument
            raise _user_failure(e, path, label) from e
        raise ConfigError(f"{path}:{label}() needs arguments ({e}); add a build_model() factory "
                          "that takes none") from e
    except Exception as e:
        raise _user_failure(e, path, label) from e
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{path}:{label}() returned {type(model).__name__}, not an nn.Module")
    return model


def load_model(spec: str, build: Build = Build()) -> ModelSource:
    """Resolve a model name or file (see the module docstring), built for ``build`` where the source
    takes it.

    Raises:
        ConfigError: unknown name (with close matches), missing file, file without a model.
    """
    spec = spec.strip()
    if spec.endswith(".onnx"):
        raise ConfigError(f"{spec} is an ONNX graph, not a PyTorch module; pass it to select_points or "
                          "`tapfinder inspect`, which read ONNX files")
    if spec.endswith(".py") or ".py:" in spec:
        return _load_file(spec, build)
    prefix, _, rest = spec.partition(":")
    if rest and prefix == "hf":
        from .hf_source import load_hf

        model, inputs = load_hf(rest, build.num_classes, build.in_channels, build.image_size)
        return ModelSource(model, inputs, spec)
    if rest and prefix == "timm":
        if rest not in _timm_names():
            raise ConfigError(_unknown(rest, _timm_names(), "timm"))
        return _from_timm(rest, build)
    if rest and prefix in ("tv", "torchvision"):
        tv = _torchvision_names()
        if rest not in tv:
            raise ConfigError(_unknown(rest, list(tv), "torchvision"))
        return _from_torchvision(rest, tv[rest], build)
    from .models import get_model, list_models

    if spec in list_models():
        model, shape = get_model(spec, num_classes=build.num_classes, in_channels=build.in_channels)
        return ModelSource(model, (random_input(shape),), spec)
    tv = _torchvision_names()
    if spec in tv:
        return _from_torchvision(spec, tv[spec], build)
    timm_names = _timm_names()
    if spec in timm_names:
        return _from_timm(spec, build)
    raise ConfigError(_unknown(spec, [*list_models(), *tv, *timm_names], "torchvision or timm"))


def _unknown(name: str, known: list[str], where: str) -> str:
    if not known:
        return f"unknown model {name!r}: install the zoo extra (pip install 'tapfinder[zoo]') for {where} models"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; give a torchvision or timm name or a .py file"
    return f"unknown model {name!r}{hint}"


def guess_example_inputs(model: nn.Module) -> tuple:
    """An example input for a module that came without one, from its first weighted layer.

    Raises:
        ConfigError: when the first layer does not say what it takes.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            spatial = {1: (256,), 2: (224, 224), 3: (16, 112, 112)}[m.weight.dim() - 2]
            return (random_input((BATCH, m.in_channels, *spatial)),)
        if isinstance(m, nn.Linear):
            return (random_input((BATCH, m.in_features)),)
        if isinstance(m, nn.Embedding):
            return (torch.randint(0, m.num_embeddings, (BATCH, 16), generator=torch.Generator().manual_seed(0)),)
    raise ConfigError(f"cannot tell what {type(model).__name__} takes as input; pass `example_inputs` "
                      "or `input_shape`")
