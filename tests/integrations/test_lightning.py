"""The Lightning callback: heads attach before the optimizer, the aux loss joins an unchanged
training_step, every term is logged, the trained module holds the user's model alone, a resumed
fit continues from checkpoints that keep the heads, and a 2-process ddp run has no unused
parameter."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from deepsup.integrations.lightning import DeepSupervision  # noqa: E402
from tests.assets.lightning_app import Classifier, Net, data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _trainer(tmp_path, epochs, **kw):
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kw,
    )


def test_a_fit_adds_and_logs_every_term_and_leaves_the_model_alone(tmp_path):
    torch.manual_seed(0)
    module = Classifier()
    callback = DeepSupervision()
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = _trainer(tmp_path, 2, callbacks=[callback, checkpoints])
    trainer.fit(module, data())
    logged = set(trainer.callback_metrics)
    assert {"deepsup/main", "deepsup/aux0"} <= {  # auto: dsn, no synergy term
        k.removesuffix("_epoch") for k in logged
    }
    assert not any("deepsup_heads" in k for k in module.state_dict())
    Net().load_state_dict(
        {k.removeprefix("net."): v for k, v in module.state_dict().items()}, strict=True
    )
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["state_dict"]
    assert any(
        k.startswith("deepsup_heads.") for k in saved
    )  # mid-training checkpoints keep the heads
    resumed = Classifier()
    _trainer(tmp_path, 3, callbacks=[DeepSupervision()]).fit(
        resumed, data(), ckpt_path=tmp_path / "ckpt" / "last.ckpt"
    )
    assert not any("deepsup_heads" in k for k in resumed.state_dict())


def test_an_optimizer_that_leaves_the_heads_out_is_refused(tmp_path):
    class NetOnly(Classifier):
        def configure_optimizers(self):
            return torch.optim.Adam(self.net.parameters(), lr=1e-3)

    with pytest.raises(Exception, match="configure_optimizers must optimize self.parameters"):
        _trainer(tmp_path, 1, callbacks=[DeepSupervision()]).fit(NetOnly(), data())


def test_two_ddp_processes_on_cpu_have_no_unused_parameter(tmp_path):
    out = tmp_path / "ddp.json"
    done = subprocess.run(
        [sys.executable, "tests/assets/lightning_app.py", str(out), "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert (
        not any("deepsup_heads" in k for k in result["keys"])
        and "deepsup/aux0_epoch" in result["logged"]
    )
