"""Hugging Face transformers models: reached through torch.export, layers as stages, attention
found."""

import pytest
import torch

from tapfinder import ConfigError, select_points

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize(
    "name, layers",
    [
        ("hf:bert", "bert.encoder.layer."),
        ("hf:gpt2", "transformer.h."),
        ("hf:llama", "model.layers."),
        ("hf:vit", "vit.layers."),
    ],
)
def test_hf_models_by_name(name, layers):
    sel = select_points(name)
    assert sel.method == "export" and sel.fallbacks[0][0] == "fx"
    assert sel.points and all(p.name.startswith(layers) for p in sel.points)
    assert all("stage_boundary" in p.rules for p in sel.points)
    assert any("attention" in c.rules for c in sel.candidates)


def test_in_memory_hf_model():
    config = transformers.BertConfig(
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=100,
    )
    model = transformers.BertModel(config)
    sel = select_points(model, torch.randint(0, 100, (2, 8)))
    assert {p.name.rsplit(".", 1)[0] for p in sel.points} == {"encoder.layer"}


def test_unknown_hf_name():
    with pytest.raises(ConfigError, match="known: bert"):
        select_points("hf:bart")
