"""ONNX in (both exporters' files) and out (node count, extra outputs, numerical match)."""

import pytest
import torch

from tapfinder import ConfigError, select_points
from tapfinder.onnx_export import export_onnx, onnx_node_count
from tests.assets.models import TinyResNet, TinyTransformer

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")
X = torch.randn(2, 3, 32, 32)  # batch 2: a batch of 1 would be fixed in the file


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
    reference = select_points(model.eval(), X)
    assert sel.method == "onnx" and sel.depth == reference.depth
    assert sel.names == reference.names  # module paths recovered from the file


def test_onnx_out_is_numerically_the_model(exports):
    _, reports = exports
    assert all(r.max_abs_diff is not None and r.max_abs_diff < 1e-4 for r in reports.values())


def test_tap_outputs_add_no_nodes(tmp_path):
    model = TinyResNet()
    sel = select_points(model, X)
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


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_the_batch_axis_stays_dynamic(exports, dynamo):
    import onnxruntime as ort

    model, reports = exports
    session = ort.InferenceSession(str(reports[dynamo].path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 32, 32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model.eval()(x)
    assert got.shape[0] == 3 and float((torch.as_tensor(got) - want).abs().max()) < 1e-4


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_a_batch_of_one_exports_with_the_batch_fixed(tmp_path, dynamo):
    """torch.export fixes an axis of size 1; asking for it free fails on ConvNeXt-like models."""
    report = export_onnx(
        TinyResNet(), (torch.randn(1, 3, 32, 32),), tmp_path / "m.onnx", dynamo=dynamo
    )
    assert not report.dynamic_batch and report.max_abs_diff < 1e-4


class _ThreeHeads(torch.nn.Module):
    """A detector-like model: three outputs at three scales."""

    def __init__(self):
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Conv2d(3, 4, 1) for _ in range(3))

    def forward(self, x):
        return tuple(h(torch.nn.functional.avg_pool2d(x, 2**i)) for i, h in enumerate(self.heads))


def test_several_outputs_are_numbered_before_the_taps(tmp_path):
    model = TinyResNet()
    sel = select_points(model, X)
    three = _ThreeHeads()
    report = export_onnx(three, (X,), tmp_path / "three.onnx")
    assert report.outputs == ["output_0", "output_1", "output_2"]
    tapped = export_onnx(model, (X,), tmp_path / "taps.onnx", selection=sel, dynamo=False)
    assert tapped.outputs[0] == "output" and tapped.outputs[1:] == [f"tap_{n}" for n in sel.names]
