"""Model sources: turn what the user typed into a module and an example input.

``cifar_resnet32`` (the papers' models, :mod:`tapfinder.models`), a torchvision or timm name
(:mod:`.zoo`), ``hf:bert`` (:mod:`.hf`), ``my_model.py[:Name]`` (:mod:`.files`). Training builds the
model for its data (:class:`Build`: classes, channels, image side) where the source takes it; the
trainer's fit check says what does not match. Weights are never downloaded.
"""

from __future__ import annotations

from ..errors import ConfigError
from .build import Build, ModelSource
from .files import absolute_spec, import_file, load_file, outermost_classes
from .inputs import BATCH, guess_example_inputs, input_for, parse_input_shape, random_input
from .zoo import from_timm, from_torchvision, timm_names, torchvision_names, unknown

__all__ = [
    "ModelSource",
    "Build",
    "load_model",
    "parse_input_shape",
    "guess_example_inputs",
    "random_input",
    "import_file",
    "absolute_spec",
    "outermost_classes",
    "BATCH",
]


def load_model(spec: str, build: Build = Build()) -> ModelSource:
    """Resolve a model name or file (see the module docstring), built for ``build`` where the source
    takes it.

    Raises:
        ConfigError: unknown name (with close matches), missing file, file without a model.
    """
    spec = spec.strip()
    if spec.endswith(".onnx"):
        raise ConfigError(
            f"{spec} is an ONNX graph, not a PyTorch module; pass it to select_points or "
            "`tapfinder inspect`, which read ONNX files"
        )
    if spec.endswith(".py") or ".py:" in spec:
        return load_file(spec, build)
    prefix, _, rest = spec.partition(":")
    if rest and prefix == "hf":
        from .hf import load_hf

        model, inputs = load_hf(rest, build.num_classes, build.in_channels, build.image_size)
        return ModelSource(model, inputs, spec)
    if rest and prefix == "timm":
        if rest not in timm_names():
            raise ConfigError(unknown(rest, timm_names(), "timm"))
        return from_timm(rest, build)
    if rest and prefix in ("tv", "torchvision"):
        tv = torchvision_names()
        if rest not in tv:
            raise ConfigError(unknown(rest, list(tv), "torchvision"))
        return from_torchvision(rest, tv[rest], build)
    from ..models import get_model, list_models

    if spec in list_models():
        model, shape = get_model(spec, num_classes=build.num_classes, in_channels=build.in_channels)
        return ModelSource(model, (input_for(model, shape),), spec)
    tv = torchvision_names()
    if spec in tv:
        return from_torchvision(spec, tv[spec], build)
    timm_known = timm_names()
    if spec in timm_known:
        return from_timm(spec, build)
    raise ConfigError(unknown(spec, [*list_models(), *tv, *timm_known], "torchvision or timm"))
