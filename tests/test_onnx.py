"""ONNX in (both exporters' files) and out (node count, extra outputs, numerical match)."""

import pytest
import torch

from tapfinder import ConfigError, select_points
from tapfinder.onnx_export import export_onnx, onnx_node_count
from tests.assets.models import TinyResNet, TinyTransformer

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")
X = torch.randn(1, 3, 32, 32)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    model = TinyResNet()
    root = tmp_path_factory.mktemp("onnx")
    return model, {
        dyn: export_onnx(model, (X,), root / f"resnet_{dyn}.onnx", dynamo=dyn)
        for dyn in (True, False)
    }


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_onnx_in_matches_the_pytorch_analysis(exports, dynamo):
    model, reports = exports
    sel = select_points(str(reports[dynamo].path))
    reference = select_points(model.eval(), X.repeat(2, 1, 1, 1))
    assert sel.method == "onnx" and sel.depth == reference.depth
    assert sel.names == reference.names  # module paths recovered from the file


def test_onnx_out_is_numerically_the_model(exports):
    _, reports = exports
    assert all(r.max_abs_diff is not None and r.max_abs_diff < 1e-4 for r in reports.values())


def test_tap_outputs_add_no_nodes(tmp_path):
    model = TinyResNet()
    sel = select_points(model, X.repeat(2, 1, 1, 1))
    plain = export_onnx(model, (X,), tmp_path / "plain.onnx")
    tapped = export_onnx(model, (X,), tmp_path / "taps.onnx", selection=sel)
    assert tapped.nodes == plain.nodes == onnx_node_count(plain.path)
    assert tapped.outputs == ["output"] + [f"tap_{n}" for n in sel.names]
    assert tapped.max_abs_diff < 1e-4


def test_transformer_round_trip(tmp_path):
    model = TinyTransformer(hand=False)
    report = export_onnx(model, (X,), tmp_path / "t.onnx")
    assert report.max_abs_diff < 1e-4
    sel = select_points(str(report.path))
    assert any("attention" in c.rules for c in sel.candidates)


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_corrupt_or_truncated_files(tmp_path, exports, content):
    _, reports = exports
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content or reports[True].path.read_bytes()[:2000])
    with pytest.raises(ConfigError, match="corrupt or truncated"):
        select_points(str(bad))


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        select_points("nope.onnx")
