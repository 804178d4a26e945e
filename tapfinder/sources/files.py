"""Model files: ``my_model.py`` or ``my_model.py:Name``, imported as ``python my_model.py`` would
see them.

A file provides ``build_model()``, a module-level ``model``, or the one ``nn.Module`` class that no
other class of the file uses, and optionally ``example_input()``. A failure inside the file's own
code is one line naming the file and line.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

from torch import nn

from ..errors import ConfigError
from .build import Build, ModelSource, accepted

__all__ = ["import_file", "absolute_spec", "load_file", "outermost_classes"]


def import_file(path: Path, prefix: str = "_tapfinder_user"):
    """Import a user's ``.py`` file as ``python file.py`` would see its imports: its own folder and
    the working directory are on ``sys.path``, so it may import its neighbours and the project's
    packages. Registered in ``sys.modules`` (pickling, dataclasses, DataLoader workers need
    that)."""
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
        raise ConfigError(
            f"syntax error in {path}:{e.lineno}: {e.msg}; fix the file and retry"
        ) from e
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


def load_file(spec: str, build: Build = Build()) -> ModelSource:
    path_text, _, attr = spec.partition(".py:")
    path = Path(path_text if spec.endswith(".py") and not attr else path_text + ".py")
    if not path.is_file():
        raise ConfigError(f"model file {str(path)!r} not found; check the path")
    module = import_file(path)
    obj, label = _pick_model(module, path, attr)
    model = _instantiate(
        obj,
        label,
        path,
        accepted(obj, {"num_classes": build.num_classes, "in_channels": build.in_channels}),
    )
    example = getattr(module, "example_input", None)
    inputs = None
    if callable(example):
        value = _call_user(example, path, "example_input")
        inputs = value if isinstance(value, tuple) else (value,)
    return ModelSource(model, inputs, f"{path.name}:{label}")


def _user_line(error: BaseException, path: Path) -> str:
    """``:LINE`` of the deepest frame of ``error``'s traceback inside the user's file ``path``."""
    import traceback

    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path.resolve()
    ]
    return f":{frames[-1].lineno}" if frames else ""


def _user_failure(error: Exception, path: Path, label: str) -> ConfigError:
    """One line for an exception raised by code of the user's file: the file, its line, the
    error."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ConfigError(
        f"{path}{_user_line(error, path)}: {label}() failed with {type(error).__name__}: "
        f"{first[:200]}; fix the file and retry"
    )


def _call_user(fn, path: Path, label: str):
    """Call a function of the user's file; its failure is one line naming the file and line."""
    try:
        return fn()
    except Exception as e:
        raise _user_failure(e, path, label) from e


def _pick_model(module, path: Path, attr: str):
    if attr:
        if not hasattr(module, attr):
            raise ConfigError(
                f"{path} has no {attr!r}; name a class, a factory or a module in the file"
            )
        return getattr(module, attr), attr
    if callable(getattr(module, "build_model", None)):
        return module.build_model, "build_model"
    if isinstance(getattr(module, "model", None), nn.Module):
        return module.model, "model"
    classes = [
        v
        for v in vars(module).values()
        if inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == module.__name__
    ]
    if not classes:
        raise ConfigError(
            f"{path} defines no model; add build_model(), a module-level `model`, "
            "or an nn.Module class"
        )
    tops = outermost_classes({c.__name__: _source(c) for c in classes})
    if len(tops) == 1:
        return getattr(module, tops[0]), tops[0]
    names = ", ".join(tops)
    raise ConfigError(f"{path} defines several models ({names}); pick one with {path}:NAME")


def _source(cls) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):  # defined by exec or in a compiled file: cannot tell what it uses
        return ""


def outermost_classes(sources: dict[str, str]) -> list[str]:
    """The classes no other class of the file names in its code: a file with ``Block`` and a ``Net``
    built from blocks defines one model, ``Net``. A class that names itself does not count.

    >>> outermost_classes({"Block": "class Block: ...", "Net": "class Net: self.b = Block()"})
    ['Net']
    >>> outermost_classes({"A": "class A: ...", "B": "class B: ..."})
    ['A', 'B']
    """
    used = {
        name
        for name in sources
        for other, text in sources.items()
        if other != name and re.search(rf"\b{re.escape(name)}\b", text)
    }
    return [name for name in sources if name not in used]


def _instantiate(obj, label: str, path: Path, kwargs: dict) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ConfigError(f"{path}:{label} is not a model, a class or a factory")
    try:
        model = obj(**kwargs)
    except TypeError as e:
        if _user_line(e, path):  # raised inside the file: a bug there, not a missing argument
            raise _user_failure(e, path, label) from e
        raise ConfigError(
            f"{path}:{label}() needs arguments ({e}); add a build_model() factory that takes none"
        ) from e
    except Exception as e:
        raise _user_failure(e, path, label) from e
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{path}:{label}() returned {type(model).__name__}, not an nn.Module")
    return model
