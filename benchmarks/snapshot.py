"""What the analysis decides, model by model, to compare two versions of the code.

For every registered model and the zoo benchmark's sample (torchvision, a stratified timm sample,
``hf:``), records D, the chosen points and every candidate with its score and eligibility. Run it
on two trees and compare: a change meant to keep behaviour (a refactor) must show no difference.

    python benchmarks/snapshot.py --out before.json [--workers 2] [--sources
    registered,torchvision,timm,hf]
    python benchmarks/snapshot.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import signal
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.zoo import TIMEOUT_S, _build, _init, _sample  # noqa: E402


def _jobs(sources: list[str], per_family: int) -> list[tuple[str, str, str]]:
    from tapfinder.models import list_models

    jobs = (
        [("registered", "tapfinder", n) for n in list_models()] if "registered" in sources else []
    )
    return jobs + [j for j in _sample(per_family) if j[0] in sources and j[0] != "onnx"]


def _decisions(sel) -> dict:
    return {
        "depth": sel.depth,
        "points": sel.names,
        "window": list(sel.window),
        "candidates": [[c.name, c.score, c.note, list(c.rules)] for c in sel.candidates],
    }


def _run(job):
    source, family, name = job
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    signal.alarm(TIMEOUT_S)
    out = {"model": f"{source}:{name}"}
    try:
        from tapfinder import select_points

        if source == "registered":
            from tapfinder.models import get_model

            model, shape = get_model(name)
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        else:
            model, x, _ = _build(source, name)
        try:
            out.update(_decisions(select_points(model.train(), x)))
        except Exception:
            if source in ("registered", "hf"):
                raise
            model, x, _ = _build(
                source, name, device="cpu"
            )  # the recorded forward needs real weights
            out.update(_decisions(select_points(model.train(), x)))
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        signal.alarm(0)
    return out


def compare(before: Path, after: Path) -> int:
    """Print every model whose decisions differ; the number of them."""
    a = {r["model"]: r for r in json.loads(before.read_text())}
    b = {r["model"]: r for r in json.loads(after.read_text())}
    differ = 0
    for model in sorted(a.keys() | b.keys()):
        if a.get(model) != b.get(model):
            differ += 1
            keys = sorted(
                {
                    k
                    for r in (a.get(model, {}), b.get(model, {}))
                    for k in r
                    if a.get(model, {}).get(k) != b.get(model, {}).get(k)
                }
            )
            print(f"{model}: differs in {', '.join(keys)}")
    print(f"{len(a.keys() | b.keys())} models, {differ} differ")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-family", type=int, default=3)
    parser.add_argument("--sources", default="registered,torchvision,timm,hf")
    args = parser.parse_args()
    if args.compare:
        sys.exit(1 if compare(*args.compare) else 0)
    jobs = _jobs(args.sources.split(","), args.per_family)
    with mp.get_context("spawn").Pool(args.workers, initializer=_init, maxtasksperchild=8) as pool:
        results = sorted(pool.imap_unordered(_run, jobs), key=lambda r: r["model"])
    args.out.write_text(json.dumps(results, indent=0))
    print(f"{len(results)} models, {sum('error' in r for r in results)} errors; wrote {args.out}")


if __name__ == "__main__":
    main()
