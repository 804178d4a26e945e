"""The command line: exit codes, one-line errors, output, and a --help that does not import
torch."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()
ASSET = "tests/assets/model_file.py"


def test_help_does_not_import_torch():
    code = (
        "import sys; from cli.app import app; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "inspect" in result.output


def test_inspect_a_model_file(tmp_path):
    out = tmp_path / "sel.json"
    result = runner.invoke(
        app, ["inspect", ASSET, "--all", "--json", str(out)], env={"COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.output
    for text in ("depth D", "Chosen tap points", "Depth profile", "All candidates", "features."):
        assert text in result.output
    data = json.loads(out.read_text())
    assert data["m"] == len(data["points"]) >= 1


def test_named_points_and_input_shape():
    result = runner.invoke(
        app,
        ["inspect", ASSET, "--points", "features.7", "--input-shape", "2,3,64,64"],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "features.7" in result.output and "(2, 3, 64, 64)" in result.output


def _one_line_error(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_user_errors_are_one_red_line_and_exit_2(tmp_path):
    assert "did you mean" in _one_line_error(["inspect", "resnet5O"])
    assert "not found" in _one_line_error(["inspect", "missing.py"])
    assert "--input-shape" in _one_line_error(["inspect", ASSET, "--input-shape", "3,x"])
    assert "no node named" in _one_line_error(["inspect", ASSET, "--points", "featurez.7"])
    assert "points must be" in _one_line_error(["inspect", ASSET, "--points", "0"])
    assert "input-shape" in _one_line_error(["inspect", ASSET, "--input-shape", "2,5,32,32"])
    assert "cannot write" in _one_line_error(
        ["inspect", ASSET, "--json", str(tmp_path / "no" / "x.json")]
    )


def test_debug_shows_the_traceback():
    result = runner.invoke(app, ["inspect", "missing.py", "--debug"])
    assert result.exit_code != 0 and result.exception is not None


def test_export_onnx_with_taps(tmp_path):
    import pytest

    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    result = runner.invoke(
        app, ["export", ASSET, "--out", str(out), "--with-taps"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert (
        out.is_file()
        and "tap_features.4" in result.output
        and "max |onnxruntime - PyTorch|" in result.output
    )


def test_export_to_a_missing_folder_is_one_line(tmp_path):
    assert "does not exist" in _one_line_error(
        ["export", ASSET, "--out", str(tmp_path / "no" / "m.onnx")]
    )
    missing_run = _one_line_error(
        ["export", str(tmp_path / "runs" / "x"), "--out", str(tmp_path / "m.pt")]
    )
    assert "no run folder" in missing_run and "tapfinder train" in missing_run


def test_readme_commands_are_what_ci_runs():
    from pathlib import Path

    readme = Path("README.md").read_text().splitlines()
    ci = Path(".ci/run").read_text()
    assert any(line.startswith("pip install ") for line in readme)
    assert any(line.startswith("python -m pytest") for line in readme)
    assert (
        "grep -m1 '^pip install ' README.md" in ci
        and "grep -m1 '^python -m pytest' README.md" in ci
    )
    assert any(line.startswith("ruff check") for line in readme)
    assert "grep -m1 '^ruff check' README.md" in ci
