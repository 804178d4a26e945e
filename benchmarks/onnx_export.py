"""ONNX out: node counts and numerical match, plain export vs export with the tap points as outputs.

Zero inference overhead means the exported graph has exactly the untapped model's nodes; the tap
variant only adds graph outputs. Both exporters, resnet18 and a transformer (vit_b_16).

    python benchmarks/onnx_export.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import print_table, write_results  # noqa: E402


def main() -> None:
    import torchvision

    from tapfinder import select_points
    from tapfinder.onnx_export import export_onnx

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("resnet18", "vit_b_16"):
            model = torchvision.models.get_model(name, weights=None)
            x = torch.randn(1, 3, 224, 224)
            sel = select_points(model, x.repeat(2, 1, 1, 1))
            for dynamo in (True, False):
                plain = export_onnx(model, (x,), f"{tmp}/{name}_{dynamo}.onnx", dynamo=dynamo)
                tapped = export_onnx(
                    model, (x,), f"{tmp}/{name}_{dynamo}_taps.onnx", selection=sel, dynamo=dynamo
                )
                rows.append(
                    dict(
                        model=name,
                        exporter="dynamo" if dynamo else "torchscript",
                        nodes=plain.nodes,
                        nodes_with_taps=tapped.nodes,
                        outputs_with_taps=tapped.outputs,
                        diff=plain.max_abs_diff,
                        diff_with_taps=tapped.max_abs_diff,
                    )
                )
    print_table(
        "ONNX export: untapped vs taps as extra outputs",
        [
            "model",
            "exporter",
            "nodes",
            "nodes with taps",
            "equal",
            "|ort - torch|",
            "with taps",
            "outputs",
        ],
        [
            [
                r["model"],
                r["exporter"],
                r["nodes"],
                r["nodes_with_taps"],
                r["nodes"] == r["nodes_with_taps"],
                f"{r['diff']:.1e}",
                f"{r['diff_with_taps']:.1e}",
                ",".join(r["outputs_with_taps"]),
            ]
            for r in rows
        ],
    )
    write_results("onnx_export", {"rows": rows})


if __name__ == "__main__":
    main()
