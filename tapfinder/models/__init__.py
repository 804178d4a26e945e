"""Models from the papers, usable by name wherever a zoo name is (``tapfinder inspect
cifar_resnet32``).

Registered with :func:`register_model`; :func:`get_model` builds one with its example input.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["register_model", "get_model", "list_models"]

_MODELS: dict[str, tuple[Callable, tuple]] = {}


def register_model(name: str, input_shape: tuple):
    """Register a factory under ``name`` with the input shape it expects (batch first). The factory
    builds the default model without arguments and takes ``num_classes`` and ``in_channels``."""

    def decorate(factory: Callable) -> Callable:
        _MODELS[name] = (factory, input_shape)
        return factory

    return decorate


def list_models() -> list[str]:
    from . import cifar_resnet, plain1d, sequence, unet  # noqa: F401  (registers)

    return sorted(_MODELS)


def get_model(name: str, **build):
    """(model, input_shape) for a registered name, built with ``build`` (``num_classes``,
    ``in_channels``); KeyError when unknown.

    >>> model, shape = get_model("plain1d48", num_classes=3, in_channels=2)
    >>> model.fc.out_features, shape
    (3, (2, 2, 40))
    """
    list_models()
    factory, shape = _MODELS[name]
    if build.get("in_channels") is not None:
        shape = (shape[0], build["in_channels"], *shape[2:])
    return factory(**{k: v for k, v in build.items() if v is not None}), shape
