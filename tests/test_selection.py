"""select_points on the papers' and the zoos' models, named points, JSON, and bad input."""

import pytest
import torch

from tapfinder import ConfigError, NodeNotFoundError, Selection, TapPoint, select_points
from tapfinder.selector import auto_count, normalize_points
from tests.assets.models import Plain1D, TinyResNet, TinyTransformer, TinyUNet

X = torch.randn(2, 3, 32, 32)
tv = pytest.importorskip("torchvision")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet18", {"layer1", "layer2", "layer3"}),
        ("resnet50", {"layer1", "layer2", "layer3"}),
    ],
)
def test_torchvision_resnets_get_stage_outputs(name, expected):
    sel = select_points(name)
    assert sel.m == auto_count(sel.depth) == 2
    assert set(sel.names) <= expected


def test_resnet18_depth_counts_weighted_layers():
    assert select_points("resnet18").depth == 18


def test_cifar_resnet_stage_outputs():
    sel = select_points("cifar_resnet32")
    assert sel.depth == 32 and sel.names == ["layer1", "layer2"]


@pytest.mark.parametrize(
    "name, expected",
    [("resnet1d34", ["layer2", "layer3"]), ("plain1d34", ["features.14", "features.26"])],
)
def test_uneven_stages_are_tapped_at_the_stage_outputs_nearest_even_spacing(name, expected):
    """He et al.'s 34-layer layouts (3, 4, 6, 3 stages, outputs near 20, 42 and 79 % of depth): the
    stage outputs nearest 1/3 and 2/3 of depth, not the first and last, and not layers inside a
    stage."""
    sel = select_points(name)
    assert sel.depth == 34 and sel.names == expected
    assert all("downsampling" in c.rules for c in sel.points)


def test_points_are_never_inside_a_branch():
    sel = select_points(TinyResNet(), X, points=4)
    assert all(p.whole_signal for p in sel.points)
    branch = [c for c in sel.candidates if not c.whole_signal]
    assert branch and all("branch" in c.note for c in branch)  # listed, with the reason


def test_transformer_blocks_are_stage_boundaries():
    sel = select_points(TinyTransformer(depth=8), X, points=2)
    assert all(p.name.startswith("blocks.") for p in sel.points)
    assert any("attention" in c.rules for c in sel.candidates)


def test_unet_may_tap_skip_sources():
    sel = select_points(TinyUNet(), X)
    skip = [c for c in sel.candidates if any("skip source" in r for r in c.reasons)]
    assert skip and all(c.whole_signal for c in skip)


def test_dense_encoder_decoder_is_tapped_in_its_decoder():
    sel = select_points(TinyUNet(), X, points=2)
    assert "dec2" in sel.names and select_points(TinyUNet(), X).names == ["dec2"]
    assert all(p.name.startswith(("dec", "up", "cat")) for p in sel.points)
    assert any("decoder" in n for n in sel.notes)
    assert select_points(TinyUNet(), X, points=["enc1", "dec2"]).names == [
        "enc1",
        "dec2",
    ]  # both may be named


class MultiExit(torch.nn.Module):
    """Four stages, each with its own classifier; the output sums their logits (EfficientViM)."""

    def __init__(self, c=8, classes=10):
        super().__init__()

        def conv(i, o):
            return torch.nn.Sequential(
                torch.nn.Conv2d(i, o, 3, 2, 1),
                torch.nn.ReLU(),
                torch.nn.Conv2d(o, o, 3, 1, 1),
                torch.nn.ReLU(),
            )

        self.stages = torch.nn.ModuleList(
            [conv(3, c), conv(c, 2 * c), conv(2 * c, 4 * c), conv(4 * c, 8 * c)]
        )
        self.heads = torch.nn.ModuleList([torch.nn.Linear(c * 2**i, classes) for i in range(4)])

    def forward(self, x):
        logits = []
        for stage, head in zip(self.stages, self.heads):
            x = stage(x)
            logits.append(head(x.mean((2, 3))))
        return torch.stack(logits).sum(0)


def test_an_output_summing_exits_of_every_stage_is_tapped_along_the_deepest_exits_trunk():
    sel = select_points(MultiExit(), torch.randn(2, 3, 64, 64), points=2)
    assert [p.name for p in sel.points] == ["stages.1", "stages.2"]


def test_plain_1d_cnn_points_sit_before_its_downsamplings():
    sel = select_points(Plain1D(depth=10), torch.randn(2, 1, 64))
    assert sel.points and all("downsampling" in p.rules for p in sel.points)


def test_named_points_and_aliases():
    sel = select_points(
        TinyResNet(), X, points=["layer1", "layer2.1"]
    )  # layer2.1 is layer2's alias
    assert sel.names == ["layer1", "layer2"]


def test_unknown_point_suggests_names():
    with pytest.raises(NodeNotFoundError, match="did you mean layer1"):
        select_points(TinyResNet(), X, points=["layer01"])


def test_point_inside_a_branch_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="inside a branch.*'layer1.0'"):
        select_points(TinyResNet(), X, points=["layer1.0.conv1"])


def test_json_round_trip():
    sel = select_points(TinyResNet(), X)
    back = Selection.from_json(sel.to_json())
    assert back == sel
    assert set(back.graph.nodes) == set(sel.graph.nodes)
    assert isinstance(back.points[0], TapPoint) and back.points[0].shape == sel.points[0].shape


def test_not_a_selection_file():
    with pytest.raises(ConfigError, match="not a tapfinder selection"):
        Selection.from_json('{"format": "other"}')


@pytest.mark.parametrize("bad", [0, -1, True, "", "a,,b", 3.5])
def test_bad_points_values(bad):
    if bad == "":
        assert normalize_points(bad) == "auto"
        return
    with pytest.raises(ConfigError):
        normalize_points(bad)


def test_more_points_than_candidates_is_a_note_not_an_error():
    sel = select_points(TinyResNet(), X, points=50)
    assert sel.m < 50 and sel.notes[0].startswith(
        "asked for 50 points, but eligible candidates sit at only"
    )


def test_the_note_on_too_few_places_says_auto_picked_the_count_when_nobody_asked():
    net = torch.nn.Sequential(
        *[
            torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3, padding=1), torch.nn.ReLU())
            for _ in range(20)
        ]
    )
    sel = select_points(net, torch.randn(2, 2, 16))
    assert sel.notes and sel.notes[0].startswith(f"auto picks 2 points for D = {sel.depth}, but")
    assert not any("asked" in note for note in sel.notes)


def test_a_point_before_upsampling_is_labelled_upsampling_not_downsampling():
    sel = select_points(TinyUNet(), X)
    rises = [c for c in sel.candidates if any(r.startswith("before upsampling") for r in c.reasons)]
    assert rises and all("upsampling" in c.rules for c in rises)
    assert all(
        "downsampling" not in c.rules
        for c in rises
        if not any("downsampling" in r for r in c.reasons)
    )


def test_model_without_example_input_gets_a_guess():
    sel = select_points(
        torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(), torch.nn.Conv1d(4, 4, 3))
    )
    assert sel.inputs == [(2, 2, 256)]


def test_timm_model_by_name():
    pytest.importorskip("timm")
    sel = select_points("timm:resnet18")
    assert set(sel.names) <= {"layer1", "layer2", "layer3"}


def test_a_drop_just_before_the_output_begins_no_final_stage():
    from types import SimpleNamespace

    from tapfinder.rules import Finding, Kind
    from tapfinder.selector import OUTPUT_FRAC, _window

    ctx = SimpleNamespace(
        D=50, depth={"stage3": 40, "merger": 49}, whole={"stage3", "merger"}, plain=False
    )
    drop = lambda node: Finding(node, "downsampling", "before downsampling", 2.0, Kind.BEFORE_DROP)  # noqa: E731
    assert _window(None, ctx, [drop("stage3")])[1] == 0.8  # a pyramid: up to its last stage
    assert (
        _window(None, ctx, [drop("stage3"), drop("merger")])[1] == 0.8
    )  # a merger in front of the head
    assert _window(None, ctx, [drop("merger")])[1] == OUTPUT_FRAC
    shallow = SimpleNamespace(
        D=4, depth={"stage1": 2}, whole={"stage1"}, plain=False
    )  # too shallow to tell: every drop
    assert _window(None, shallow, [drop("stage1")])[1] == 0.5
