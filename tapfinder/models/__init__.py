"""Models from the papers, usable by name wherever a zoo name is (``tapfinder inspect cifar_resnet32``).

Registered with :func:`register_model`; :func:`get_model` builds one with its example input.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["register_model", "get_model", "list_models"]

_MODELS: dict[str, tuple[Callable, tuple]] = {}


def register_model(name: str, input_shape: tuple):
    """Register a no-argument factory under ``name`` with the input shape it expects (batch first)."""
    def decorate(factory: Callable) -> Callable:
        _MODELS[name] = (factory, input_shape)
        return factory
    return decorate


def list_models() -> list[str]:
    from . import cifar_resnet, plain1d, unet  # noqa: F401  (registers)
    return sorted(_MODELS)


def get_model(name: str):
    """(model, input_shape) for a registered name; KeyError when unknown."""
    list_models()
    factory, shape = _MODELS[name]
    return factory(), shape
