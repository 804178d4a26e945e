"""The recipes' losses against their definitions."""

import math

import pytest
import torch
import torch.nn.functional as F

from deepsup.losses import LEAD_EPS, make_loss, negative_entropy, synergy
from tapfinder import ConfigError
from tapfinder.taps import TapOutput

torch.manual_seed(0)
Y = torch.randint(0, 5, (8,))


def _out(n_aux=2, requires_grad=True):
    main = torch.randn(8, 5, requires_grad=requires_grad)
    aux = [torch.randn(8, 5, requires_grad=requires_grad) for _ in range(n_aux)]
    feats = [torch.randn(8, 6, 4, 4, requires_grad=requires_grad) for _ in range(n_aux)]
    return TapOutput(main, aux, feats)


def test_baseline_is_cross_entropy_of_the_main_head():
    out = _out()
    total, terms = make_loss("baseline")(out, Y)
    assert torch.allclose(total, F.cross_entropy(out.main, Y)) and set(terms) == {"main"}


def test_dsn_weight_margin_and_decay():
    out = _out()
    ce = [F.cross_entropy(a, Y) for a in out.aux]
    total, _ = make_loss("dsn", alpha=0.3, alpha_gate="none")(out, Y)
    assert torch.allclose(total, F.cross_entropy(out.main, Y) + 0.3 * sum(ce))
    high_margin, _ = make_loss("dsn", gamma=100.0)(out, Y)
    assert torch.allclose(high_margin, F.cross_entropy(out.main, Y))
    decayed, terms = make_loss("dsn", alpha_decay=True)(out, Y, progress=1.0)
    assert (
        torch.allclose(decayed, F.cross_entropy(out.main, Y)) and "aux0" in terms
    )  # still computed
    decayed.backward()
    assert all(a.grad is not None for a in out.aux)  # zero weight, but in the graph: DDP-safe


def test_synergy_is_zero_for_identical_heads_and_follows_direction():
    same = torch.randn(8, 5)
    assert float(synergy([same, same.clone(), same.clone()])) == pytest.approx(0.0, abs=1e-6)
    heads = [torch.randn(8, 5, requires_grad=True) for _ in range(3)]
    synergy(heads, "top-down").backward()
    assert heads[-1].grad is None or heads[-1].grad.abs().sum() == 0  # the deepest only teaches
    assert heads[0].grad.abs().sum() > 0
    heads = [torch.randn(8, 5, requires_grad=True) for _ in range(3)]
    synergy(heads, "bottom-up").backward()
    assert heads[0].grad is None or heads[0].grad.abs().sum() == 0


def test_synergy_auto_is_bi_between_vectors_and_top_down_between_maps():
    vectors = [torch.randn(8, 5) for _ in range(3)]
    assert torch.equal(synergy(vectors), synergy(vectors, "bi"))
    # a UNet's decoder heads at 4×4 and 8×8 under a 16×16 main head: coarse maps never teach finer
    # ones
    maps = [torch.randn(2, 5, s, s, requires_grad=True) for s in (4, 8, 16)]
    total = synergy(maps)
    assert torch.equal(total, synergy(maps, "top-down")) and not torch.equal(
        total, synergy(maps, "bi")
    )
    total.backward()
    assert maps[-1].grad is None or maps[-1].grad.abs().sum() == 0  # the main head only teaches
    assert maps[0].grad.abs().sum() > 0


def test_dks_has_ce_on_every_head_and_synergy():
    out = _out()
    total, terms = make_loss("dks")(out, Y)
    expected = sum(F.cross_entropy(h, Y) for h in [out.main, *out.aux]) + synergy(
        [*out.aux, out.main]
    )
    assert torch.allclose(total, expected) and "synergy" in terms


def test_negative_entropy_bounds():
    c = 6
    uniform = torch.zeros(2, c, 3, 3)
    assert float(negative_entropy(uniform)) == pytest.approx(-math.log(c))
    peaked = torch.zeros(2, c, 3, 3)
    peaked[:, 0] = 50.0
    assert float(negative_entropy(peaked)) == pytest.approx(0.0, abs=1e-6)
    tokens = torch.zeros(2, 7, c)
    assert float(negative_entropy(tokens, "channels_last")) == pytest.approx(-math.log(c))


def test_imachsr_adds_mi_and_ne_terms():
    out = _out()
    total, terms = make_loss("imachsr", alpha=0.5, lam=0.1)(out, Y)
    expected = F.cross_entropy(out.main, Y) + sum(
        0.5 * F.cross_entropy(a, Y) + 0.1 * negative_entropy(f)
        for a, f in zip(out.aux, out.features)
    )
    assert torch.allclose(total, expected) and {"ne0", "ne1"} <= set(terms)


def test_kd_and_half_precision_logits_are_computed_in_fp32():
    out = TapOutput(torch.randn(8, 5).half(), [torch.randn(8, 5).half()], [])
    total, terms = make_loss("dks", kd=1.0)(out, Y)
    assert total.dtype == torch.float32 and "kd0" in terms


def test_dense_heads_are_upsampled_to_the_target():
    target = torch.randint(0, 3, (2, 16, 16))
    out = TapOutput(torch.randn(2, 3, 16, 16), [torch.randn(2, 3, 8, 8)], [])
    total, _ = make_loss("dks")(out, target)
    assert torch.isfinite(total)


def test_dense_heads_can_read_a_downsampled_target_instead():
    target = torch.randint(0, 3, (2, 16, 16))
    aux = torch.randn(2, 3, 8, 8)
    out = TapOutput(torch.randn(2, 3, 16, 16), [aux], [])
    _, up = make_loss("dsn")(out, target)
    _, down = make_loss("dsn", dense="downsample")(out, target)
    coarse = target[:, ::2, ::2]  # nearest neighbour at half resolution
    assert torch.allclose(down["aux0"], F.cross_entropy(aux, coarse))
    assert torch.allclose(
        up["aux0"], F.cross_entropy(F.interpolate(aux, size=(16, 16), mode="bilinear"), target)
    )
    with pytest.raises(ConfigError, match="dense"):
        make_loss("dsn", dense="sideways")


def test_unknown_recipe_and_direction():
    with pytest.raises(ConfigError, match="unknown recipe"):
        make_loss("deepest")
    with pytest.raises(ConfigError, match="direction"):
        make_loss("dks", direction="sideways")


def test_fade_by_fades_every_aux_term_and_leaves_the_main_head():
    out = TapOutput(torch.randn(4, 3), [torch.randn(4, 3), torch.randn(4, 3)], [])
    y = torch.tensor([0, 1, 2, 0])
    loss = make_loss("dks", fade_by=0.5)
    start, _ = loss(out, y, 0.0)
    full, terms = make_loss("dks")(out, y, 0.0)
    half, _ = loss(out, y, 0.25)
    late, late_terms = loss(out, y, 0.75)
    assert torch.allclose(start, full) and torch.allclose(late, late_terms["main"])
    assert torch.allclose(half, terms["main"] + 0.5 * (full - terms["main"]))
    assert "synergy" in late_terms  # still computed (DDP sees every parameter used)


def _led(scale_main: float, scale_aux: float):
    """An output whose main and aux heads predict the target with the given confidence."""
    onehot = F.one_hot(Y, 5).float()
    return TapOutput(
        (scale_main * onehot).requires_grad_(), [(scale_aux * onehot).requires_grad_()], []
    )


@pytest.mark.parametrize("recipe", ["dsn", "dks", "imachsr"])
def test_lead_gate_lowers_only_heads_the_main_head_leads(recipe):
    gated, plain = make_loss(recipe), make_loss(recipe, alpha_gate="none")  # gated by default
    ahead = _led(scale_main=0.5, scale_aux=4.0)  # the aux head knows more: full weight
    assert torch.allclose(gated(ahead, Y)[0], plain(ahead, Y)[0])
    behind = _led(scale_main=4.0, scale_aux=0.5)  # the main head leads: the aux term shrinks
    (g_total, terms), (p_total, _) = gated(behind, Y), plain(behind, Y)
    assert g_total < p_total and g_total > terms["main"]


def test_lead_gate_is_a_weight_not_a_trained_path():
    out = _led(scale_main=4.0, scale_aux=0.5)
    make_loss("dsn")(out, Y)[0].backward()
    assert out.main.grad is not None
    # the main head's gradient is its own CE's alone: the gate is detached
    main = out.main.detach().requires_grad_()
    F.cross_entropy(main, Y).backward()
    assert torch.allclose(out.main.grad, main.grad)


def test_best_gate_lowers_a_head_that_another_aux_head_leads():
    onehot = F.one_hot(Y, 5).float()
    # the main head and the first aux head at chance, the second aux head ahead of both
    out = TapOutput(torch.zeros(len(Y), 5), [torch.zeros(len(Y), 5), 4.0 * onehot], [])
    _, lead_terms = make_loss("dsn")(out, Y)
    best, terms = make_loss("dsn", alpha_gate="best")(out, Y)
    lead, _ = make_loss("dsn")(out, Y)
    assert torch.allclose(lead, lead_terms["main"] + terms["aux0"] + terms["aux1"])
    # the leading aux head keeps its full weight, the one behind it drops to ε / (p_best + ε)
    weight = (best - terms["main"] - terms["aux1"]) / terms["aux0"]
    p_best = 1 - terms["aux1"] / math.log(5)
    assert torch.allclose(weight, LEAD_EPS / (p_best + LEAD_EPS))


def test_alpha_gate_is_checked():
    with pytest.raises(ConfigError, match="alpha_gate must be one of none, lead, best"):
        make_loss("dsn", alpha_gate="always")
    with pytest.raises(ConfigError, match="does nothing in recipe baseline"):
        make_loss("baseline", alpha_gate="lead")
