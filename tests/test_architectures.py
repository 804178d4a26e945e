"""Points and heads for the families users bring (issue 19): one test per family, each on a small
model written as a user would (tests/assets/archs.py)."""

import pytest
import torch
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from deepsup.losses import make_loss
from deepsup.trainer import TrainConfig, Trainer
from tapfinder import select_points
from tapfinder.taps import attach
from tests.assets import archs


def test_a_unet_with_attention_gates_is_tapped_in_its_decoder():
    sel = select_points(archs.GatedUNet(), torch.randn(2, 3, 64, 64))
    assert sel.names == ["dec4", "dec3"]
    assert any("decoder stages" in note for note in sel.notes)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_layers_get_token_heads_and_train(cell):
    torch.manual_seed(0)
    model = archs.LSTMStack(cell=cell)
    sel = select_points(model, torch.randn(2, 20, 8))
    assert sel.points and all(p.name.startswith("rnns.") for p in sel.points)
    tapped = attach(model, sel, num_classes=5)
    out = tapped(torch.randn(4, 20, 8))
    assert out.main.shape == (4, 5) and [a.shape for a in out.aux] == [(4, 5)] * sel.m
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(32, 20, 8, generator=g), torch.randint(0, 5, (32,), generator=g)
    )
    history = Trainer(
        tapped, make_loss("dks"), data, data, TrainConfig(epochs=1, batch_size=16), num_classes=5
    ).fit()
    assert "val_acc_aux0" in history[-1]


def test_a_causal_lm_gets_per_token_heads_and_a_per_token_loss():
    torch.manual_seed(0)
    model = archs.TinyGPT()
    idx = torch.randint(0, 64, (2, 16))
    sel = select_points(model, idx)
    assert sel.names and all(n.startswith("blocks.") for n in sel.names)
    tapped = attach(model, sel, task="token", num_classes=64)
    out = tapped(idx)
    assert out.main.shape == (2, 16, 64) and all(a.shape == (2, 16, 64) for a in out.aux)
    total, terms = make_loss("dks", task="token")(out, torch.randint(0, 64, (2, 16)))
    assert torch.isfinite(total) and {"aux0", "synergy"} <= set(terms)
    shared = attach(model, sel, task="token", num_classes=64, token_head="shared")
    head = shared.head(shared.points[0])
    assert head.norm is model.ln_f and head.unembed is model.lm_head  # LayerSkip's early exit


def test_an_expert_stack_is_tapped_among_its_blocks():
    sel = select_points(archs.MoETransformer(), torch.randn(2, 20, 16))
    assert sel.method == "record" and sel.names
    assert all(n.startswith("blocks.") for n in sel.names)  # not the whole stack's output


def test_nn_transformer_layers_are_points_and_decoder_layers_may_be_named():
    torch.manual_seed(0)
    model = archs.DETRLike().train()
    x = torch.randn(2, 3, 32, 32)
    assert any(n.startswith("transformer.encoder.layers.") for n in select_points(model, x).names)
    named = ["transformer.decoder.layers.0", "transformer.decoder.layers.1"]
    sel = select_points(model, x, points=named)
    tapped = attach(model, sel, num_classes=5)
    assert sel.names == named and [a.shape for a in tapped(x).aux] == [(2, 5), (2, 5)]


def test_a_model_whose_inputs_meet_only_at_the_head_is_refused_for_training(tmp_path):
    sel = select_points(archs.Siamese(), (torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)))
    assert not sel.points and "no point sees every input" in sel.notes[-1]
    model = tmp_path / "siamese.py"
    model.write_text("from tests.assets.archs import Siamese\nmodel = Siamese()\n")
    data = tmp_path / "pairs.py"
    data.write_text(
        "import torch\nfrom torch.utils.data import Dataset\nNUM_CLASSES = 2\n"
        "class Pairs(Dataset):\n    def __len__(self): return 8\n"
        "    def __getitem__(self, i):\n"
        "        return (torch.randn(3, 32, 32), torch.randn(3, 32, 32)), i % 2\n"
        "def get_datasets():\n    return Pairs(), Pairs()\n"
    )
    from cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            str(model),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "r"),
            "--yes",
        ],
    )
    assert (
        result.exit_code == 2
        and "no point of" in result.output
        and "no point sees every input" in result.output
    )
    assert "--recipe baseline" in result.output and not (tmp_path / "r").exists()
    baseline = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            str(model),
            "--data",
            str(data),
            "--epochs",
            "1",
            "--recipe",
            "baseline",
            "--out",
            str(tmp_path / "b"),
            "--yes",
        ],
    )
    assert baseline.exit_code == 0, (
        baseline.output
    )  # a tuple input trains, spread over the arguments


def test_an_image_and_tabular_model_taps_where_both_inputs_are_and_trains_on_dict_samples(tmp_path):
    batch = {"image": torch.randn(2, 3, 32, 32), "tabular": torch.randn(2, 6)}
    sel = select_points(archs.ImageTabular(), (batch,))
    assert sel.names and not any(
        n.startswith("image") for n in sel.names
    )  # all inputs, not one branch
    model = tmp_path / "multimodal.py"
    model.write_text(
        "from tests.assets.archs import ImageTabular\n"
        "def build_model(num_classes=3):\n    return ImageTabular(num_classes)\n"
    )
    data = tmp_path / "records.py"
    data.write_text(
        "import torch\nfrom torch.utils.data import Dataset\nNUM_CLASSES = 3\n"
        "class Records(Dataset):\n    def __len__(self): return 12\n"
        "    def __getitem__(self, i):\n"
        "        return {'image': torch.randn(3, 32, 32), 'tabular': torch.randn(6)}, i % 3\n"
        "def get_datasets():\n    return Records(), Records()\n"
    )
    from cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            str(model),
            "--data",
            str(data),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--out",
            str(tmp_path / "r"),
            "--yes",
        ],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "done: 1 epoch" in result.output and "Chosen tap points" in result.output


def test_the_built_in_text_set_trains_a_token_model_with_per_token_heads(tmp_path):
    from cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            "gpt_char",
            "--data",
            "text",
            "--epochs",
            "1",
            "--limit-batches",
            "2",
            "--out",
            str(tmp_path / "lm"),
            "--yes",
        ],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    import json

    row = json.loads((tmp_path / "lm" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"val_acc_main", "val_ce_main", "val_acc_aux0", "val_ce_aux0"} <= set(row)


@pytest.mark.parametrize(
    "name", ["resnet1d32", "plain1d48", "lstm1d4", "gpt_char", "unet_small", "cifar_resnet20"]
)
def test_no_point_is_within_the_classifier_of_the_output(name):
    from tapfinder.selector import COPIES_MAIN

    sel = select_points(name)
    assert sel.names and all(sel.depth - sel.depths[p] > COPIES_MAIN for p in sel.names)


def test_no_point_of_an_expert_stack_copies_the_main_head():
    from tapfinder.selector import COPIES_MAIN

    sel = select_points(archs.MoETransformer(), torch.randn(2, 20, 16))
    assert all(sel.depth - sel.depths[p] > COPIES_MAIN for p in sel.names)
