"""Zoo benchmark: fx coverage (plain symbolic_trace vs tapfinder's tracer) and agreement with model
authors.

Coverage: over every torchvision classification and segmentation model, a stratified timm sample
(up to --per-family models from every timm family, evenly spaced through its sorted list), the
Hugging Face models of ``hf:`` and ONNX exports of torchvision models (both exporters): does plain
``torch.fx.symbolic_trace`` trace it, does tapfinder's fx frontend (timm's leaf modules and wrapped
functions registered), and does the whole chain (fx → torch.export → recorded forward) return a
selection, by which method, and can a head be attached at every chosen point (``attach`` as
``tapfinder train`` calls it). Models that cannot run forward at all are reported and left out.

Agreement: timm's hand-written ``feature_info`` lists each stage's output; for every sampled timm
model tapfinder handles, the candidate set should contain every ``feature_info`` module output but
the last stage's (bar: ≥ 95 % of those modules). Entries naming a module the model does not have
(timm metadata slips such as ``block.0`` in twins) are counted apart and left out of the share.
torchvision ResNet-18/50/101/152 must get stage
outputs (layer1..layer3) as points.

Models are built with pretrained=False, on the meta device where their constructor allows (no
memory, no compute), and run in parallel worker processes with one torch thread each.

    python benchmarks/zoo.py [--per-family 3] [--workers 2] [--limit N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import print_table, write_results  # noqa: E402

TIMEOUT_S = 180


def _sample(per_family: int) -> list[tuple[str, str, str]]:
    import timm
    import torchvision.models as tvm

    jobs = [("torchvision", "classification", n) for n in tvm.list_models(module=tvm)]
    jobs += [("torchvision", "segmentation", n) for n in tvm.list_models(module=tvm.segmentation)]
    for family in sorted(timm.list_modules()):
        names = sorted(timm.list_models(module=family))
        if not names:
            continue
        k = min(per_family, len(names))
        picks = sorted({names[round(i * (len(names) - 1) / max(k - 1, 1))] for i in range(k)})
        jobs += [("timm", family, n) for n in picks]
    try:
        import transformers  # noqa: F401

        from tapfinder.sources.hf import HF_MODELS

        jobs += [("hf", "transformers", n) for n in sorted(HF_MODELS)]
    except ImportError:
        pass
    for name in (
        "resnet18",
        "mobilenet_v3_small",
        "efficientnet_b0",
        "convnext_tiny",
        "vit_b_16",
        "fcn_resnet50",
    ):
        jobs += [("onnx", exporter, name) for exporter in ("dynamo", "torchscript")]
    return jobs


def _build(source: str, name: str, device: str = "meta"):
    import torch

    if source == "hf":
        from tapfinder.sources.hf import load_hf

        model, inputs = load_hf(name)
        return model, inputs[0], "cpu"

    def make():
        if source == "timm":
            import timm

            return timm.create_model(name, pretrained=False)
        from tapfinder.sources import load_model

        return load_model(f"tv:{name}").model

    try:
        if device != "meta":
            raise RuntimeError("asked for real weights")
        with torch.device("meta"):
            model = make()
    except Exception:
        model, device = make(), "cpu"
    if source == "timm":
        import timm

        size = timm.data.resolve_data_config({}, model=model)["input_size"]
    else:
        size = (3, 299, 299) if name == "inception_v3" else (3, 224, 224)
    return model, torch.randn(2, *size), device


def _onnx_job(exporter: str, name: str, out: dict) -> None:
    import tempfile

    import torch

    from tapfinder import select_points
    from tapfinder.onnx_export import export_onnx
    from tapfinder.sources import load_model

    model = load_model(f"tv:{name}").model
    with tempfile.TemporaryDirectory() as tmp:
        report = export_onnx(
            model, (torch.randn(1, 3, 224, 224),), f"{tmp}/m.onnx", dynamo=exporter == "dynamo"
        )
        out["plain_fx"] = out["ours_trace"] = False
        sel = select_points(f"{tmp}/m.onnx")
        reference = select_points(model.eval(), torch.randn(2, 3, 224, 224))
    out.update(
        selection=True,
        method="onnx",
        points=sel.names,
        depth=sel.depth,
        runs_forward=True,
        same_points_as_pytorch=sel.names == reference.names,
        onnx_diff=report.max_abs_diff,
    )


def _heads(model, sel, task: str, out) -> None:
    """Can a head be built and hooked for every chosen point (what ``tapfinder train`` does
    next)?"""
    from tapfinder import attach

    try:
        attach(model, sel, task=task, num_classes=10).detach()
        out["heads"] = True
    except Exception as e:
        out["heads"], out["heads_error"] = False, f"{type(e).__name__}: {str(e)[:160]}"


def _chain(model, x, out):
    from tapfinder import select_points
    from tapfinder.errors import TapfinderError
    from tapfinder.selector import resolve_name

    sel = select_points(model, x)
    out.update(
        selection=True,
        method=sel.method,
        fallbacks=[list(f) for f in sel.fallbacks],
        points=sel.names,
        depth=sel.depth,
    )
    _heads(model, sel, "segmentation" if out["family"] == "segmentation" else "classification", out)
    cands = {c.name for c in sel.candidates}
    info = getattr(model, "feature_info", None)
    modules = [f["module"] for f in info][:-1] if isinstance(info, list) and info else []
    present = dict(model.named_modules())
    out["feature_absent"] = [m for m in modules if m not in present]  # timm metadata slips
    modules = [m for m in modules if m in present]
    out["feature_modules"] = len(modules)
    for module in modules:
        try:
            hit = resolve_name(sel.graph, module) in cands
        except TapfinderError:
            hit = False
        out["feature_hits"] += hit
        if not hit:
            out["feature_misses"].append(module)


def _runs_forward(model, x) -> bool:
    import torch

    try:
        with torch.no_grad():
            model.eval()(x)
        return True
    except Exception:
        return False


def _run(job):
    source, family, name = job
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    signal.alarm(TIMEOUT_S)
    out = dict(
        source=source,
        family=family,
        name=name,
        plain_fx=False,
        ours_trace=False,
        selection=False,
        method="",
        fallbacks=[],
        error="",
        feature_modules=0,
        feature_hits=0,
        feature_misses=[],
        feature_absent=[],
        points=[],
        runs_forward=None,
        heads=None,
        heads_error="",
        seconds=0.0,
    )
    start = time.perf_counter()
    try:
        if source == "onnx":
            _onnx_job(family, name, out)
            return out
        model, x, out["device"] = _build(source, name)
        model.train()
        try:
            torch.fx.symbolic_trace(model)
            out["plain_fx"] = True
        except Exception:
            pass
        from tapfinder.frontends.fx import trace_fx

        try:
            trace_fx(model, n_inputs=1)
            out["ours_trace"] = True
        except Exception:
            pass
        try:
            _chain(model, x, out)
        except Exception:
            if out["device"] == "meta":  # the recorded forward needs real weights
                model, x, out["device"] = _build(source, name, device="cpu")
                model.train()
                try:
                    _chain(model, x, out)
                except Exception as e2:
                    e = e2
            if not out["selection"]:
                out["error"] = f"select: {str(e)[:200]}"
                out["runs_forward"] = _runs_forward(model, x)
    except Exception as e:
        out["error"] = f"build: {type(e).__name__}: {str(e)[:160]}"
    finally:
        signal.alarm(0)
        out["seconds"] = round(time.perf_counter() - start, 2)
    return out


def _heads_share(rows: list[dict]) -> str:
    """Of the selections where heads were tried, how many got a head at every point."""
    tried = [r for r in rows if r["heads"] is not None]
    return f"{sum(r['heads'] for r in tried) / len(tried):.1%}" if tried else "-"


def _timeout(signum, frame):
    raise TimeoutError(f"over {TIMEOUT_S} s")


def _init():
    signal.signal(signal.SIGALRM, _timeout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-family", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--sources", default="torchvision,timm,hf,onnx")
    args = parser.parse_args()
    jobs = [j for j in _sample(args.per_family) if j[0] in args.sources.split(",")]
    if args.limit:
        jobs = jobs[: args.limit]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers, initializer=_init, maxtasksperchild=8) as pool:
        results = []
        for i, r in enumerate(pool.imap_unordered(_run, jobs), 1):
            results.append(r)
            if i % 25 == 0:
                print(f"  {i}/{len(jobs)} models, {time.perf_counter() - start:.0f} s", flush=True)
    results.sort(key=lambda r: (r["source"], r["family"], r["name"]))

    rows = []
    groups = (
        ("torchvision classification", lambda r: r["family"] == "classification"),
        ("torchvision segmentation", lambda r: r["family"] == "segmentation"),
        ("timm sample", lambda r: r["source"] == "timm"),
        ("Hugging Face (hf:)", lambda r: r["source"] == "hf"),
        ("ONNX exports of torchvision", lambda r: r["source"] == "onnx"),
    )
    for label, keep in groups:
        built = [r for r in results if keep(r) and not r["error"].startswith("build")]
        runnable = [r for r in built if r["runs_forward"] is not False]
        n = len(runnable)
        methods = defaultdict(int)
        for r in runnable:
            methods[r["method"] or "none"] += 1
        rows.append(
            [
                label,
                len(built),
                n,
                f"{sum(r['plain_fx'] for r in runnable) / max(n, 1):.1%}",
                f"{sum(r['ours_trace'] for r in runnable) / max(n, 1):.1%}",
                f"{sum(r['selection'] for r in runnable) / max(n, 1):.1%}",
                _heads_share(runnable),
                ", ".join(f"{m} {c}" for m, c in sorted(methods.items(), key=lambda kv: -kv[1])),
            ]
        )
    print_table(
        "Coverage (train mode, pretrained=False; denominator: models that run forward)",
        [
            "source",
            "built",
            "run forward",
            "plain symbolic_trace",
            "tapfinder fx",
            "full chain",
            "heads built",
            "method that succeeded",
        ],
        rows,
    )
    no_heads = [r for r in results if r["heads"] is False]
    if no_heads:
        print_table(
            "Selections no heads could be attached to",
            ["model", "points", "error"],
            [
                [f"{r['source']}:{r['name']}", ",".join(r["points"]), r["heads_error"]]
                for r in no_heads
            ],
        )
    families = len({r["family"] for r in results if r["source"] == "timm"})
    print(
        f"timm sample: {sum(r['source'] == 'timm' for r in results)} models from {families} "
        "families"
    )
    onnx_rows = [r for r in results if r["source"] == "onnx" and r["selection"]]
    if onnx_rows:
        print_table(
            "ONNX in: same points as the PyTorch analysis",
            ["model", "exporter", "points", "same", "export |ort - torch|"],
            [
                [
                    r["name"],
                    r["family"],
                    ",".join(r["points"]),
                    r["same_points_as_pytorch"],
                    f"{r['onnx_diff']:.1e}" if r["onnx_diff"] is not None else "-",
                ]
                for r in onnx_rows
            ],
        )

    timm_ok = [r for r in results if r["source"] == "timm" and r["selection"]]  # noqa: E501
    total = sum(r["feature_modules"] for r in timm_ok)
    hits = sum(r["feature_hits"] for r in timm_ok)
    misses = defaultdict(list)
    for r in timm_ok:
        for m in r["feature_misses"]:
            misses[r["family"]].append(f"{r['name']}:{m}")
    absent = [f"{r['name']}:{m}" for r in timm_ok for m in r["feature_absent"]]
    print_table(
        "Agreement with timm feature_info (all stages but the last)",
        [
            "models",
            "feature modules",
            "in candidate set",
            "share (≥ 95%)",
            "named but not in the model",
        ],
        [[len(timm_ok), total, hits, f"{hits / max(total, 1):.1%}", len(absent)]],
    )
    if absent:
        print(
            "feature_info entries naming modules the model does not have (left out of the share): "
            + ", ".join(absent[:12])
            + (" ..." if len(absent) > 12 else "")
        )
    if misses:
        print_table(
            "Misses by family",
            ["family", "misses", "examples"],
            [
                [f, len(v), ", ".join(v[:3])]
                for f, v in sorted(misses.items(), key=lambda kv: -len(kv[1]))
            ],
        )
    resnets = {
        r["name"]: r["points"]
        for r in results
        if r["source"] == "torchvision"
        and r["name"] in ("resnet18", "resnet50", "resnet101", "resnet152")
    }
    print_table(
        "torchvision ResNets: chosen points",
        ["model", "points", "all stage outputs"],
        [
            [k, ",".join(v), set(v) <= {"layer1", "layer2", "layer3"} and bool(v)]
            for k, v in resnets.items()
        ],
    )
    failed = [r for r in results if r["error"]]
    if failed:
        print_table(
            "Failures",
            ["model", "runs forward", "error"],
            [[f"{r['source']}:{r['name']}", r["runs_forward"], r["error"][:110]] for r in failed],
        )
    print(f"\n{len(results)} models in {time.perf_counter() - start:.0f} s")
    write_results(
        "zoo",
        {
            "per_family": args.per_family,
            "results": results,
            "agreement": {"modules": total, "hits": hits},
        },
    )


if __name__ == "__main__":
    main()
