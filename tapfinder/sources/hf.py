"""Hugging Face transformers models by name (``hf:bert``, ``hf:vit``, ``hf:gpt2``, ``hf:llama``
...).

Built from small configs in memory: no hub access, no weights. torch.fx cannot trace transformers
models (transformers' own fx tracer is gone in 5.x), so they reach the graph through the
``torch.export`` frontend, which keeps every module path. Decoders run with ``use_cache=False``.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

__all__ = ["HF_MODELS", "load_hf"]

# name -> (config class, model class, config kwargs, input kind)
HF_MODELS = {
    "bert": (
        "BertConfig",
        "BertForSequenceClassification",
        dict(
            hidden_size=128,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=512,
            vocab_size=1000,
        ),
        "tokens",
    ),
    "gpt2": (
        "GPT2Config",
        "GPT2LMHeadModel",
        dict(
            n_embd=128,
            n_layer=4,
            n_head=4,
            vocab_size=1000,
            bos_token_id=0,
            eos_token_id=0,
            use_cache=False,
        ),
        "tokens",
    ),
    "llama": (
        "LlamaConfig",
        "LlamaForCausalLM",
        dict(
            hidden_size=128,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=256,
            vocab_size=1000,
            use_cache=False,
        ),
        "tokens",
    ),
    "vit": (
        "ViTConfig",
        "ViTForImageClassification",
        dict(
            hidden_size=192,
            num_hidden_layers=6,
            num_attention_heads=3,
            intermediate_size=768,
            image_size=224,
            patch_size=16,
        ),
        "image",
    ),
    "resnet": ("ResNetConfig", "ResNetForImageClassification", dict(), "image"),
    "segformer": ("SegformerConfig", "SegformerForSemanticSegmentation", dict(), "image"),
}


def load_hf(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    image_size: tuple | None = None,
):
    """(model, example inputs) for ``hf:NAME``, with ``num_labels``, and for image models
    ``num_channels`` and (ViT) a square ``image_size``, from the data when given.

    Raises:
        ConfigError: transformers missing, or an unknown name (with the known ones).
    """
    try:
        import transformers
    except ImportError as e:
        raise ConfigError(
            "hf: models need transformers; install it with pip install 'tapfinder[hf]'"
        ) from e
    if name not in HF_MODELS:
        raise ConfigError(
            f"unknown Hugging Face model {name!r}; known: {', '.join(sorted(HF_MODELS))}"
        )
    config_cls, model_cls, kwargs, kind = HF_MODELS[name]
    causal = model_cls.endswith(("LMHeadModel", "ForCausalLM"))  # its classes are its vocabulary
    if num_classes:
        kwargs = dict(kwargs, **{"vocab_size" if causal else "num_labels": num_classes})
    if kind == "image" and in_channels:
        kwargs["num_channels"] = in_channels
    if "image_size" in kwargs and image_size and len(set(image_size)) == 1:
        kwargs["image_size"] = image_size[0]
    config = getattr(transformers, config_cls)(**kwargs)
    model = getattr(transformers, model_cls)(config)
    gen = torch.Generator().manual_seed(0)
    if kind == "tokens":
        inputs = (torch.randint(0, config.vocab_size, (2, 16), generator=gen),)
    else:
        size = getattr(config, "image_size", 224)
        inputs = (torch.randn(2, getattr(config, "num_channels", 3), size, size, generator=gen),)
    return model, inputs
