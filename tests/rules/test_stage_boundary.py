from tapfinder.rules.stage_boundary import analyze
from tests.graphs import build, context

S = (2, 8, 8, 8)


def _net(block_weights=2):
    return build(
        [
            ("x", "input", S, []),
            ("l1.0.c", "conv", S, ["x"]),
            ("l1.0.c2", "conv", S, ["l1.0.c"]),
            ("l1.1.c", "conv", S, ["l1.0.c2"]),
            ("l1.1.c2", "conv", S, ["l1.1.c"]),
            ("head", "linear", (2, 4), ["l1.1.c2"]),
        ],
        outputs_of={"l1.0.c2": ["l1.0"], "l1.1.c2": ["l1", "l1.1"]},
        modules={"l1": "Sequential", "l1.0": "Block", "l1.1": "Block"},
        children={
            "": ["l1", "head"],
            "l1": ["l1.0", "l1.1"],
            "l1.0": ["l1.0.c", "l1.0.c2"],
            "l1.1": ["l1.1.c", "l1.1.c2"],
        },
        weights={"l1": 4, "l1.0": block_weights, "l1.1": block_weights},
    )


def test_block_and_stage_outputs():
    G = _net()
    reasons = {f.node: f.reason for f in analyze(G, context(G))}
    assert reasons["l1.0.c2"].startswith("end of block l1.0")
    assert reasons["l1.1.c2"].startswith("end of stage l1 (2 × Block)")


def test_single_layer_wrappers_are_not_blocks():
    G = _net(block_weights=1)  # conv-norm-act wrappers hold one weight layer each
    assert analyze(G, context(G)) == []
