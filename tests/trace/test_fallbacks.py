"""torch.export and recorded-forward frontends: same graph type, same names, model left as found."""

import pytest
import torch

from tapfinder.api import build_graph
from tapfinder.frontends.export import build_export_graph
from tapfinder.frontends.record import build_recorded_graph
from tapfinder.rules import build_context, run_analyzers
from tapfinder.selector import candidates_from, choose
from tests.assets.models import TinyResNet, TinyTransformer, TinyUNet

X = torch.randn(2, 3, 32, 32)


def _points(G):
    ctx = build_context(G)
    cands, window = candidates_from(G, ctx, run_analyzers(G, ctx))
    return (
        ctx.D,
        [p.name for p in choose(G, ctx, cands, window, "auto")[0]],
        {c.name for c in cands},
    )


@pytest.mark.parametrize(
    "model",
    [TinyResNet(), TinyUNet(), TinyTransformer(hand=True)],
    ids=["resnet", "unet", "transformer"],
)
@pytest.mark.parametrize(
    "frontend", [build_export_graph, build_recorded_graph], ids=["export", "record"]
)
def test_fallbacks_agree_with_fx(model, frontend):
    model.train()
    fx_depth, fx_points, fx_cands = _points(build_graph(model, X, methods=("fx",)))
    depth, points, cands = _points(frontend(model, (X,)))
    assert (depth, points) == (fx_depth, fx_points)
    assert len(cands & fx_cands) >= 0.8 * len(fx_cands)  # names coincide, not just the picks


def test_recording_leaves_the_model_as_found():
    model = TinyResNet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    build_recorded_graph(model, (X,))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_forward_that_raises_is_one_error_the_models_own():
    """When a real forward fails, every frontend fails alike: the model's own error is said once."""
    from tapfinder.errors import TraceError

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise ValueError("bad input")

    with pytest.raises(TraceError) as caught:
        build_graph(Broken(), X)
    message = str(caught.value)
    assert message.startswith("Broken fails on its example input: ValueError: bad input")
    assert message.count("bad input") == 1 and "fx:" not in message and "%" not in message
