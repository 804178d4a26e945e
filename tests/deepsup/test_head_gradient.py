"""What an aux head's gradient into the model becomes at its tap (``head_gradient``): in full (the
default), yielding to the model's own, or balanced against it."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tapfinder import select_points
from tapfinder.errors import ConfigError
from tapfinder.taps import attach, balanced, yielded
from tests.assets.models import FunctionalNet, TinyResNet

X = torch.randn(4, 3, 32, 32)
Y = torch.tensor([0, 1, 2, 3])


def test_a_yielded_gradient_never_points_against_the_models_own():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        head, own = torch.randn(8, 3, 5, generator=g), torch.randn(8, 3, 5, generator=g)
        out = yielded(head, own)
        along = (out * own).flatten(1).sum(1)
        agreed = (head * own).flatten(1).sum(1) >= 0
        assert (along >= -1e-4).all()  # what remains never opposes the model's own gradient
        assert torch.equal(out[agreed], head[agreed])  # and agreeing samples pass untouched
        removed = (head - out)[~agreed].flatten(1)
        parallel = own[~agreed].flatten(1)
        # only the conflicting component is removed: what is taken away is along the model's own
        assert torch.allclose(
            removed.norm(dim=1) * parallel.norm(dim=1), (removed * parallel).sum(1).abs(), rtol=1e-3
        )


def test_with_no_gradient_of_its_own_the_model_takes_the_heads_in_full():
    assert torch.equal(yielded(torch.ones(2, 3), torch.zeros(2, 3)), torch.ones(2, 3))


def _grads(model, tapped, loss_of):
    model.zero_grad()
    tapped.heads.zero_grad()
    loss_of(tapped(X)).backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_a_balanced_gradient_is_never_larger_than_the_models_own_and_keeps_its_direction():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        head = torch.randn(8, 3, 5, generator=g)
        own = torch.randn(8, 3, 5, generator=g) * torch.rand(8, 1, 1, generator=g) * 3
        out = balanced(head, own)
        h, o, b = (t.flatten(1) for t in (head, own, out))
        assert (b.norm(dim=1) <= o.norm(dim=1) * (1 + 1e-5)).all()  # never outweighs the model
        assert (b.norm(dim=1) <= h.norm(dim=1) * (1 + 1e-5)).all()  # and is never scaled up
        cosine = F.cosine_similarity(b, h, dim=1)
        assert torch.allclose(cosine, torch.ones(8), atol=1e-5)  # same direction, per sample
        weaker = h.norm(dim=1) <= o.norm(dim=1)
        assert torch.equal(b[weaker], h[weaker])  # a head weaker than the model passes untouched


def test_with_no_gradient_of_its_own_the_model_takes_nothing_from_a_balanced_head():
    assert torch.equal(balanced(torch.ones(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))


def _each(model, points, loss_of, rule="yield"):
    """The model's gradients with heads' gradients in full, and with ``rule``."""
    tapped = attach(model, select_points(model, X, points=points), num_classes=10).eval()
    assert tapped.head_gradient == "full"  # the default
    plain = _grads(model, tapped, loss_of)
    tapped.head_gradient = rule
    return plain, _grads(model, tapped, loss_of), tapped


def _main_only(out):
    return F.cross_entropy(out.main, Y)


def _aux_only(out):
    return sum(F.cross_entropy(a, Y) for a in out.aux)


def _same(a, b):
    return len(a) == len(b) and all(torch.allclose(u, v, atol=1e-6) for u, v in zip(a, b))


@pytest.mark.parametrize(
    ("factory", "points"), [(TinyResNet, ["layer1", "layer2"]), (FunctionalNet, ["add"])]
)
def test_yielding_changes_only_conflicting_gradients_on_both_capture_paths(factory, points):
    """Module outputs are read by hooks, ``add`` through the fx rewrite: both split the feature."""
    torch.manual_seed(0)
    model = factory()
    both = lambda out: _main_only(out) + _aux_only(out)  # noqa: E731
    assert _same(*_each(model, points, _main_only)[:2])  # the main head's gradient is untouched
    # no own gradient at the deepest point: its head's goes in full (a shallower one yields to it)
    assert _same(*_each(model, points[-1:], _aux_only)[:2])
    plain, yielding, tapped = _each(model, points, both)
    assert not _same(plain, yielding)  # where both push, the conflicting part is gone
    with torch.no_grad():  # and the values are the model's own
        tapped.head_gradient = "full"
        before = tapped(X)
        tapped.head_gradient = "yield"
        after = tapped(X)
    assert torch.equal(before.main, after.main)
    assert all(torch.equal(a, b) for a, b in zip(before.aux, after.aux))


class InPlaceAfterTap(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu(self.conv(x))  # the tapped output is changed in place by the next module
        return self.fc(self.relu(self.conv2(x)).mean((2, 3)))


@pytest.mark.parametrize(
    ("factory", "points"), [(TinyResNet, ["layer1", "layer2"]), (FunctionalNet, ["add"])]
)
def test_balancing_caps_only_the_heads_gradient_on_both_capture_paths(factory, points):
    torch.manual_seed(0)
    model = factory()
    loud = lambda out: _main_only(out) + 1e3 * _aux_only(out)  # noqa: E731
    assert _same(*_each(model, points, _main_only, "balance")[:2])  # the main head's: untouched
    # a head alone, with nothing from the model at its point, sends nothing into the model
    _, alone, _ = _each(model, points[-1:], _aux_only, "balance")
    assert all(float(g.abs().max()) == 0.0 for g in alone)
    # a head a thousand times louder than the model moves it by at most twice the model's own
    only_main = _each(model, points, _main_only, "balance")[0]
    full, capped, _ = _each(model, points, loud, "balance")
    total = lambda grads: sum(float(g.norm()) for g in grads)  # noqa: E731
    assert total(capped) < 0.01 * total(full)
    assert total(capped) <= 2.5 * total(only_main) * len(points)


@pytest.mark.parametrize("rule", ["yield", "balance"])
def test_a_model_that_writes_in_place_on_the_tapped_output_still_trains(rule):
    model = InPlaceAfterTap()
    tapped = attach(model, select_points(model, X, points=["conv"]), num_classes=10)
    tapped.head_gradient = rule
    out = tapped(X)
    (F.cross_entropy(out.main, Y) + F.cross_entropy(out.aux[0], Y)).backward()
    assert model.conv.weight.grad is not None


def test_an_unknown_head_gradient_rule_is_refused_in_one_line():
    model = TinyResNet()
    selection = select_points(model, X, points=["layer1"])
    with pytest.raises(ConfigError, match="head_gradient"):
        attach(model, selection, num_classes=10, head_gradient="half")
    tapped = attach(model, selection, num_classes=10)
    tapped.head_gradient = "half"
    with pytest.raises(ConfigError, match="balance"):
        tapped(X)


@pytest.mark.parametrize("rule", ["yield", "balance"])
def test_a_rule_that_reads_the_main_gradient_needs_the_shared_state(rule):
    """Under ``aux_state="own"`` the aux terms' gradient is taken without the main loss, so a head
    could yield only to the deeper heads: the trainer refuses the pair, and takes it shared."""
    from torch.utils.data import TensorDataset

    from deepsup.losses import make_loss
    from deepsup.trainer import TrainConfig, Trainer

    model = TinyResNet()
    tapped = attach(model, select_points(model, X, points=["layer1"]), num_classes=10)
    tapped.head_gradient = rule
    data = TensorDataset(X, Y)
    loss = make_loss("dsn")
    with pytest.raises(ConfigError, match="aux_state=shared"):
        Trainer(tapped, loss, data, data, TrainConfig(epochs=1))
    shared = TrainConfig(epochs=1, aux_state="shared")
    assert Trainer(tapped, loss, data, data, shared).aux_optimizer is None
    Trainer(model, make_loss("baseline"), data, data, TrainConfig(epochs=1))  # no heads: no pair
