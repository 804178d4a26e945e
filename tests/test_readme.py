"""Every command and Python example of the README's "The main job" runs, at a tiny size.

The commands run in order in a fresh folder holding a copy of ``examples/``, through the installed
``tapfinder`` script, as a new user would after the README's install command: training for 1
epoch of 2 batches (``--epochs 1 --limit-batches 2``), answering the preview with ``--yes``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The main job"
STACKS = "## In your own training stack"
TINY = {  # an example's length → a tiny one: one epoch or two steps, on 256 samples
    r"EPOCHS = \d+": "EPOCHS = 1",
    r"TrainConfig\(epochs=\d+\)": "TrainConfig(epochs=1, limit_batches=2)",
    r"max_epochs=\d+": "max_epochs=1, limit_train_batches=2, enable_progress_bar=False",
    r"max_steps=\d+": "max_steps=2",
    r"DataLoader\(data\.train": "DataLoader(torch.utils.data.Subset(data.train, range(256))",
}


def _blocks(language: str, heading: str = SECTION) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    section = section[: section.index("\n## ", len(heading))]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def readme_commands() -> list[str]:
    """The shell commands of the section, comments dropped."""
    lines = [
        line.split("  #")[0].strip() for block in _blocks("bash") for line in block.splitlines()
    ]
    return [line for line in lines if line and not line.startswith("#")]


def tiny(command: str) -> str:
    """A README command at a tiny size: training for 1 epoch of 2 batches, without the question.

    >>> tiny("tapfinder train --model m --epochs 20 --out runs/x")
    'tapfinder train --model m --epochs 1 --out runs/x --limit-batches 2 --yes'
    """
    if not command.startswith("tapfinder train"):
        return command
    command = re.sub(r"--epochs \d+", "--epochs 1", command)
    return f"{command} --limit-batches 2" + ("" if " --yes" in command else " --yes")


def _environment() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="100")
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the installed tapfinder
    )
    return env


def test_the_readme_has_the_commands_it_promises():
    commands = readme_commands()
    assert any(c.startswith("tapfinder inspect") for c in commands)
    assert any(c.startswith("tapfinder train") for c in commands)
    assert any(c.startswith("tapfinder export runs/") for c in commands)


def test_every_readme_command_runs(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = _environment()
    for command in readme_commands():
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", tiny(command)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, f"{command}\n{done.stderr[-2000:]}"


def tiny_python(code: str) -> str:
    """A README Python example at a tiny size.

    >>> tiny_python("EPOCHS = 5")
    'EPOCHS = 1'
    """
    for pattern, replacement in TINY.items():
        code = re.sub(pattern, replacement, code)
    return code


EXAMPLES = [(SECTION, i) for i in range(len(_blocks("python")))] + [
    (STACKS, i) for i in range(len(_blocks("python", STACKS)))
]


@pytest.mark.parametrize("heading, index", EXAMPLES)
def test_every_readme_python_example_runs(tmp_path, heading, index, monkeypatch):
    code = tiny_python(_blocks("python", heading)[index])
    monkeypatch.chdir(tmp_path)
    name = f"README.md {heading[3:]!r} python block {index + 1}"
    exec(compile(code, name, "exec"), {"__name__": "readme"})


def test_the_readme_shows_every_integration():
    code = "\n".join(_blocks("python", STACKS))
    for module in ("lightning", "hf", "timm", "monai"):
        assert f"from deepsup.integrations.{module} import" in code
    assert "loss_fn(tapped(x), y, progress)" in code  # the plain loop


def test_what_the_readme_says_of_a_resnet_is_what_it_gets():
    from tapfinder import select_points

    text = (ROOT / "README.md").read_text()
    assert "(a ResNet-50 gets `layer2`, `layer3`)" in text
    assert select_points("resnet50").names == ["layer2", "layer3"]
