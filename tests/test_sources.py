"""Model sources: names, files, and every way a file or name can be wrong."""

import textwrap

import pytest

from tapfinder.errors import ConfigError
from tapfinder.sources import Build, load_model, parse_input_shape

ASSET = "tests/assets/model_file.py"


def _write(tmp_path, body, name="m.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_file_with_factory_and_example_input():
    src = load_model(ASSET)
    assert type(src.model).__name__ == "Net" and src.example_inputs[0].shape == (2, 3, 32, 32)
    assert src.name == "model_file.py:build_model"


def test_file_with_named_class():
    assert type(load_model(f"{ASSET}:Net").model).__name__ == "Net"


def test_file_with_module_level_model(tmp_path):
    path = _write(tmp_path, "from torch import nn\nmodel = nn.Sequential(nn.Linear(4, 4))\n")
    assert load_model(path).name.endswith(":model")


@pytest.mark.parametrize(
    "body, message",
    [
        ("def f(:\n    pass\n", r"syntax error in .*m.py:1"),
        ("x = 1\n", "defines no model"),
        (
            "from torch import nn\nclass A(nn.Module):\n    pass\nclass B(nn.Module):\n    pass\n",
            r"several models \(A, B\); pick one with",
        ),
        (
            "from torch import nn\nclass A(nn.Module):\n    def __init__(self, width):\n        "
            "super().__init__()\n",
            "needs arguments",
        ),
        ("raise RuntimeError('boom')\n", "importing .* failed: RuntimeError: boom"),
    ],
)
def test_bad_model_files(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        load_model(_write(tmp_path, body))


def test_a_file_with_helper_modules_builds_the_one_no_other_class_uses(tmp_path):
    body = (
        "from torch import nn\n"
        "class Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 3, 3)\n    def forward(self, x):\n        return "
        "self.conv(x)\n"
        "class Base(nn.Module):\n    pass\n"
        "class Net(Base):\n    def __init__(self, num_classes=10):\n        super().__init__()\n"
        "        self.body = nn.Sequential(Block(), Block())\n"
    )
    src = load_model(_write(tmp_path, body), Build(num_classes=3))
    assert type(src.model).__name__ == "Net" and src.name.endswith(":Net")


def test_missing_file_and_missing_name():
    with pytest.raises(ConfigError, match="not found"):
        load_model("nope/missing.py")
    with pytest.raises(ConfigError, match="has no 'Nope'"):
        load_model(f"{ASSET}:Nope")


def test_unknown_name_suggests_close_matches():
    pytest.importorskip("torchvision")
    with pytest.raises(ConfigError, match="did you mean resnet50"):
        load_model("resnet5O")


def test_plain_name_falls_back_to_timm():
    pytest.importorskip("timm")
    src = load_model("convnext_atto")  # not a torchvision name
    assert src.name == "timm:convnext_atto" and src.example_inputs[0].shape[0] == 2


@pytest.mark.parametrize("text", ["", "a,b", "1,-3", "0", "1,3,,x"])
def test_bad_input_shapes(text):
    with pytest.raises(ConfigError, match="`input_shape` must be positive integers"):
        parse_input_shape(text)


def test_zoo_models_never_download(monkeypatch):
    tvm = pytest.importorskip("torchvision.models")
    import torch.hub

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    for name in tvm.list_models(module=tvm.segmentation)[:3] + ["resnet18", "googlenet"]:
        load_model(name)


def test_training_builds_every_source_for_its_data(tmp_path):
    """`tapfinder train --model resnet18 --data folder/` must not stop at '1000 classes, data has
    3'."""
    import torch

    from tapfinder.sources import Build

    build = Build(num_classes=3, in_channels=1, image_size=(32, 32))
    x = torch.randn(2, 1, 32, 32)
    assert load_model("cifar_resnet20", build).model(x).shape == (2, 3)
    assert load_model("resnet1d32", Build(num_classes=4)).model(torch.randn(2, 1, 40)).shape == (
        2,
        4,
    )
    pytest.importorskip("torchvision")
    assert (
        load_model("resnet18", Build(num_classes=3)).model.fc.out_features == 3
    )  # torchvision: classes only
    timm = pytest.importorskip("timm")  # noqa: F841
    vit = load_model("timm:vit_tiny_patch16_224", build)  # a fixed patch grid is built for 32×32
    assert vit.model(x).shape == (2, 3) and vit.example_inputs[0].shape == (2, 1, 32, 32)
    assert load_model("timm:resnet18", build).model(x).shape == (
        2,
        3,
    )  # takes no img_size: left out
    pytest.importorskip("transformers")
    assert load_model("hf:vit", build).model(x).logits.shape == (
        2,
        3,
    )  # num_labels, num_channels, image_size
    path = _write(
        tmp_path,
        """
        from torch import nn
        class Net(nn.Module):
            def __init__(self, num_classes=10, in_chans=3):
                super().__init__()
                self.conv, self.fc = nn.Conv2d(in_chans, 4, 3), nn.Linear(4, num_classes)
            def forward(self, x):
                return self.fc(self.conv(x).mean((2, 3)))
        """,
    )
    assert load_model(path, build).model(x).shape == (2, 3)
    assert load_model(path).model.fc.out_features == 10  # inspect builds the defaults


def test_a_model_file_imports_its_neighbours_from_any_working_directory(tmp_path, monkeypatch):
    """As under `python net.py`: the file's folder (and the working directory) are on sys.path."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "blocks.py").write_text(
        "from torch import nn\n\ndef block():\n    return nn.Conv1d(1, 4, 3)\n"
    )
    (tmp_path / "proj" / "net.py").write_text(
        "from torch import nn\nfrom blocks import block\n\n"
        "def build_model():\n    return nn.Sequential(block(), nn.ReLU())\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    assert load_model("proj/net.py").model[0].out_channels == 4
