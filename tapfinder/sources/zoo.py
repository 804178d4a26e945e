"""Zoo models by name: torchvision (``resnet50``, ``tv:resnet50``) and timm
(``timm:convnext_tiny``).

Built with ``pretrained=False``; example inputs are timm's ``input_size``, 224×224 images for
torchvision (299×299 for Inception), 16-frame 112×112 clips for video models.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from .build import Build, ModelSource
from .inputs import BATCH, random_input

__all__ = ["torchvision_names", "timm_names", "from_torchvision", "from_timm", "unknown"]


def torchvision_names() -> dict[str, str]:
    try:
        import torchvision.models as tvm
    except Exception:
        return {}
    kinds = {"": tvm, "segmentation": tvm.segmentation, "video": tvm.video}
    return {name: kind for kind, mod in kinds.items() for name in tvm.list_models(module=mod)}


def timm_names() -> list[str]:
    try:
        import timm
    except Exception:
        return []
    return timm.list_models()


def from_torchvision(name: str, kind: str, build: Build = Build()) -> ModelSource:
    import torchvision.models as tvm

    builder = tvm.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if build.num_classes is not None:
        kwargs["num_classes"] = build.num_classes
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True  # silences torchvision's warning about the default changing
    model = builder(**kwargs)
    shape = (BATCH, 3, 16, 112, 112) if kind == "video" else (BATCH, 3, 224, 224)
    if name.startswith("inception"):
        shape = (BATCH, 3, 299, 299)
    return ModelSource(model, (random_input(shape),), name)


def from_timm(name: str, build: Build = Build()) -> ModelSource:
    import timm

    kwargs = {
        k: v
        for k, v in (("num_classes", build.num_classes), ("in_chans", build.in_channels))
        if v is not None
    }
    model = None
    if build.image_size is not None:
        try:  # models with a fixed grid (ViT, Swin) are built for the data's image side
            model = timm.create_model(name, pretrained=False, img_size=build.image_size, **kwargs)
        except TypeError:  # the architecture takes any size
            pass
    model = model if model is not None else timm.create_model(name, pretrained=False, **kwargs)
    size = timm.data.resolve_data_config({}, model=model)["input_size"]
    size = (build.in_channels or size[0], *(build.image_size or size[1:]))
    return ModelSource(model, (random_input((BATCH, *size)),), f"timm:{name}")


def unknown(name: str, known: list[str], where: str) -> str:
    if not known:
        return (
            f"unknown model {name!r}: install the zoo extra (pip install 'tapfinder[zoo]') "
            f"for {where} models"
        )
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = (
        f"; did you mean {' or '.join(close)}?"
        if close
        else "; give a torchvision or timm name or a .py file"
    )
    return f"unknown model {name!r}{hint}"
