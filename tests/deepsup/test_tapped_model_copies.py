"""A tapped model behaves like any module: it deep-copies, pickles, averages (EMA / SWA), compiles
with fullgraph, says so when called after detach, and tells the losses its feature layouts."""

import copy
import io

import pytest
import torch

from deepsup.losses import make_loss
from tapfinder import ConfigError, Selection, select_points
from tapfinder.taps import attach
from tests.assets.models import FunctionalNet, TinyResNet, TinyTransformer

X = torch.randn(2, 3, 32, 32)


def _tapped(capture="auto", model=None):
    torch.manual_seed(0)
    model = model or TinyResNet()
    return attach(model, select_points(model, X), capture=capture)


def _same(a, b):
    a.eval(), b.eval()
    with torch.no_grad():
        oa, ob = a(X), b(X)
    return torch.allclose(oa.main, ob.main) and all(
        torch.allclose(p, q) for p, q in zip(oa.aux, ob.aux)
    )


@pytest.mark.parametrize("capture", ["hooks", "fx"])
def test_a_deep_copy_runs_on_its_own_weights(capture):
    tapped = _tapped(capture)
    twin = copy.deepcopy(tapped)
    assert _same(tapped, twin)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(0.5)
    assert not _same(tapped, twin)  # the copy's hooks or program read the copy, not the original
    tapped.train()
    tapped(X)  # and the original still runs


@pytest.mark.parametrize("capture", ["hooks", "fx"])
def test_torch_save_and_load_of_the_whole_tapped_model(capture):
    tapped = _tapped(capture)
    buffer = io.BytesIO()
    torch.save(tapped, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert _same(tapped, loaded)


def test_ema_and_swa_average_the_model_and_the_heads():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    tapped = _tapped()
    ema = AveragedModel(tapped, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    swa = AveragedModel(tapped)
    opt = torch.optim.SGD(tapped.parameters(), lr=0.1)
    for _ in range(2):
        out = tapped.train()(X)
        (out.main.sum() + sum(a.sum() for a in out.aux)).backward()
        opt.step()
        opt.zero_grad()
        ema.update_parameters(tapped)
        swa.update_parameters(tapped)
    for averaged in (ema, swa):
        out = averaged.eval()(X)
        assert len(out.aux) == len(tapped.points) and out.main.shape == (2, 10)


def test_fullgraph_compile_of_an_fx_captured_tapped_model():
    tapped = _tapped("fx").eval()
    compiled = torch.compile(tapped, fullgraph=True, backend="eager")
    with torch.no_grad():
        out, want = compiled(X), tapped(X)
    assert torch.allclose(out.main, want.main) and torch.allclose(out.aux[0], want.aux[0])


def test_calling_a_detached_tapped_model_says_what_to_call():
    tapped = _tapped()
    model = tapped.detach()
    assert model(X).shape == (2, 10)
    with pytest.raises(ConfigError, match=r"detached; call the model itself \(TappedModel.model\)"):
        tapped(X)


def test_layouts_reach_the_loss_for_token_features():
    torch.manual_seed(0)
    model = TinyTransformer()
    tapped = attach(model, select_points(model, X))
    assert tapped.layouts and set(tapped.layouts) <= {"channels_last", "channels_first", "flat"}
    loss = make_loss("imachsr", layouts=tapped.layouts)
    total, terms = loss(tapped.train()(X), torch.tensor([1, 2]))
    assert torch.isfinite(total) and {"ne0"} <= set(terms)


def test_loss_terms_are_detached_for_logging_and_the_total_keeps_its_graph():
    tapped = _tapped()
    total, terms = make_loss("dks")(tapped.train()(X), torch.tensor([1, 2]), progress=0.5)
    assert total.requires_grad and not any(t.requires_grad for t in terms.values())
    assert set(terms) == {"main", *(f"aux{i}" for i in range(len(tapped.points))), "synergy"}


def test_a_selection_loads_from_a_path(tmp_path):
    sel = select_points(FunctionalNet(), X)
    path = tmp_path / "sel.json"
    sel.save(path)
    assert (
        Selection.from_json(path) == sel == Selection.load(path) == Selection.from_json(str(path))
    )
