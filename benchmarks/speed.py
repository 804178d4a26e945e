"""Speed: select_points (trace + shapes + rules + selection) vs torchvision's
create_feature_extractor.

Side by side in one run, single thread, median of repeats, model construction excluded. Also: the
share of rules + selection, growth with depth on CIFAR ResNets up to 1202 layers, and the wall
time of `tapfinder --help` and `tapfinder inspect resnet50` as a user sees them (fresh processes).

    python benchmarks/speed.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import median_time, print_table, write_results  # noqa: E402


def _compare(repeat: int) -> list[dict]:
    import torchvision
    from torchvision.models.feature_extraction import create_feature_extractor

    from tapfinder import select_points
    from tapfinder.rules import build_context, run_analyzers
    from tapfinder.selector import candidates_from, choose

    rows = []
    for name in ("resnet50", "vit_b_16", "convnext_tiny"):
        model = torchvision.models.get_model(name, weights=None)
        x = torch.randn(2, 3, 224, 224)
        sel = select_points(model, x)
        nodes = sel.names
        ours = median_time(lambda: select_points(model, x), repeat)
        theirs = median_time(lambda: create_feature_extractor(model, return_nodes=nodes), repeat)
        G = sel.graph

        def rules_only():
            ctx = build_context(G)
            cands, window = candidates_from(G, ctx, run_analyzers(G, ctx))
            choose(G, ctx, cands, window, "auto")

        rules = median_time(rules_only, repeat)
        rows.append(
            dict(
                model=name,
                select_points_s=ours,
                create_feature_extractor_s=theirs,
                ratio=ours / theirs,
                rules_s=rules,
                rules_share=rules / ours,
                points=nodes,
                nodes=G.number_of_nodes(),
            )
        )
    return rows


def _growth(repeat: int) -> list[dict]:
    from tapfinder import select_points
    from tapfinder.models import get_model

    rows = []
    for depth in (20, 56, 110, 290, 590, 1202):
        if depth in (290, 590):
            from tapfinder.models.cifar_resnet import CifarResNet

            model, shape = CifarResNet(depth), (2, 3, 32, 32)
        else:
            model, shape = get_model(f"cifar_resnet{depth}")
        x = torch.randn(*shape)
        sel = select_points(model, x)
        t = median_time(lambda: select_points(model, x), max(1, repeat // 2))
        rows.append(
            dict(
                depth=sel.depth,
                nodes=sel.graph.number_of_nodes(),
                seconds=t,
                ms_per_layer=1000 * t / sel.depth,
                points=sel.names,
            )
        )
    return rows


def _cli(repeat: int) -> dict:
    exe = str(Path(sys.executable).with_name("tapfinder"))

    def run(args):
        start = time.perf_counter()
        subprocess.run(
            [exe, *args], check=True, capture_output=True, env={"COLUMNS": "120", "PATH": ""}
        )
        return time.perf_counter() - start

    helps = sorted(run(["--help"]) for _ in range(repeat))
    inspects = sorted(run(["inspect", "resnet50"]) for _ in range(3))
    return {"help_s": helps[len(helps) // 2], "inspect_resnet50_s": inspects[1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    compare = _compare(args.repeat)
    print_table(
        "select_points vs create_feature_extractor (1 thread, median, model construction excluded)",
        [
            "model",
            "select_points",
            "create_feature_extractor",
            "ratio (≤ 1.5)",
            "rules+selection",
            "share (≤ 25%)",
            "points",
        ],
        [
            [
                r["model"],
                f"{r['select_points_s'] * 1000:.1f} ms",
                f"{r['create_feature_extractor_s'] * 1000:.1f} ms",
                f"{r['ratio']:.2f}×",
                f"{r['rules_s'] * 1000:.1f} ms",
                f"{r['rules_share']:.0%}",
                ",".join(r["points"]),
            ]
            for r in compare
        ],
    )
    growth = _growth(args.repeat)
    print_table(
        "growth with depth (CIFAR ResNets)",
        ["D", "graph nodes", "select_points", "ms / layer"],
        [
            [r["depth"], r["nodes"], f"{r['seconds']:.3f} s", f"{r['ms_per_layer']:.2f}"]
            for r in growth
        ],
    )
    cli = _cli(args.repeat)
    print_table(
        "command line (fresh processes)",
        ["command", "wall"],
        [
            ["tapfinder --help (< 0.5 s)", f"{cli['help_s']:.2f} s"],
            ["tapfinder inspect resnet50", f"{cli['inspect_resnet50_s']:.2f} s"],
        ],
    )
    write_results("speed", {"compare": compare, "growth": growth, "cli": cli})


if __name__ == "__main__":
    main()
