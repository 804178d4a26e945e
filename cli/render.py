"""Pure renderers: library values in, Rich renderables out. No analysis happens here."""

from __future__ import annotations

import math

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

__all__ = [
    "render_summary",
    "render_points",
    "render_profile",
    "render_candidates",
    "render_heads",
    "render_train_row",
    "render_run_end",
    "render_training",
]

_SHADES = " ▁▂▃▄▅▆▇█"


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape[1:]) if shape else "?"


def render_summary(sel, wall: float) -> Table:
    eligible = sum(c.eligible for c in sel.candidates)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("model", sel.model)
    table.add_row("input", ", ".join(str(tuple(s)) for s in sel.inputs))
    table.add_row("depth D", f"{sel.depth} weighted layers on the longest path")
    tail = any("plain_tail" in p.rules for p in sel.points)  # a plain net's tail: one more
    how = f"⌊log₂D / 2⌋ = ⌊log₄ {sel.depth}⌋, 1..5" + (
        ", + 1 at a plain net's tail" if tail else ""
    )
    table.add_row("points M", f"{sel.m}  (auto: {how})")
    table.add_row(
        "candidates",
        f"{len(sel.candidates)} marked by the rules, {eligible} eligible "
        f"(whole signal, depth {sel.window[0]:.0%}–{sel.window[1]:.0%})",
    )
    method = {
        "fx": "torch.fx trace",
        "export": "torch.export (non-strict)",
        "record": "recorded forward pass",
        "onnx": "ONNX graph",
    }.get(sel.method, sel.method)
    shapes = (
        "from ONNX shape inference" if sel.method == "onnx" else f"on {sel.shape_method} tensors"
    )
    table.add_row("graph", f"{method}, shapes {shapes}, {sel.graph.number_of_nodes()} nodes")
    for frontend, why in sel.fallbacks:
        table.add_row("", Text(f"{frontend} failed: {why}", style="yellow"))
    t = sel.timings
    table.add_row(
        "time",
        f"{t.get('graph', 0) + t.get('rules', 0):.2f} s analysis (trace + shapes "
        f"{t.get('graph', 0):.2f} s, rules + selection {t.get('rules', 0):.3f} s); "
        f"model built in {t.get('load', 0):.2f} s; {wall:.1f} s in all",
    )
    return table


def _rows(
    header: list[str], rows: list[tuple], notes: list[str], right: set[int], indent: int
) -> Group:
    """A table laid out for narrow terminals: short columns on one line, each row's long text
    (its reasons) wrapped beneath it, ``indent`` columns in."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells, style=None):
        parts = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return Text("  ".join(parts).rstrip(), style=style)

    out = [line(header, "bold cyan")]
    for cells, note in zip(rows, notes):
        out.append(line(cells))
        if note:
            out.append(Padding(Text(note, style="dim"), (0, 0, 0, indent)))
    return Group(*out)


def _reasons(point) -> str:
    rules = ", ".join(point.rules)
    why = "; ".join(point.reasons)
    return f"{rules}: {why}" if rules and why else (why or rules)


def render_points(sel) -> Group:
    """The chosen points: name, features, depth and score on one line, the rules and reasons
    beneath."""
    rows = [
        (str(i), p.name, _shape(p.shape), f"{p.depth_frac:.0%}", f"{p.score:g}")
        for i, p in enumerate(sel.points, 1)
    ]
    notes = [_reasons(p) or "named by you" for p in sel.points]
    title = Text("Chosen tap points", style="bold")
    if not rows:
        return Group(title, Text("  none", style="dim"))
    return Group(
        title,
        _rows(
            ["#", "point", "output", "depth", "score"],
            rows,
            notes,
            {0, 3, 4},
            indent=len(rows[-1][0]) + 2,
        ),
    )


def render_profile(columns) -> Group:
    """Three strips along depth: resolution (taller = finer), channels (taller = wider), points
    (▲)."""
    spatials = [c.spatial for c in columns if c.spatial]
    sizes = [math.prod(s) for s in spatials]
    chans = [c.channels for c in columns if c.channels]

    def bar(value, values, style):
        if not value or not values or max(values) <= 1:
            return Text("·", style="dim")
        top, low = math.log(max(values)), math.log(max(min(values), 1))
        level = 1 + round((math.log(value) - low) / max(top - low, 1e-9) * (len(_SHADES) - 2))
        return Text(_SHADES[level], style=style)

    res, ch, marks = Text("resolution "), Text("channels   "), Text("points     ")
    for c in columns:
        res += bar(math.prod(c.spatial) if c.spatial else None, sizes, "green")
        ch += bar(c.channels, chans, "blue")
        marks += Text("▲" if c.points else " ", style="bold red")
    scale = Text("depth      0%" + " " * max(len(columns) - 7, 1) + "100%", style="dim")
    fmt = lambda s: "×".join(map(str, s)) if s else "flat"  # noqa: E731
    finest = max(spatials, key=math.prod, default=None)
    coarsest = min(spatials, key=math.prod, default=None)
    legend = Text(
        f"           resolution {fmt(finest)} → {fmt(coarsest)}, "
        f"channels {min(chans, default=0)} → {max(chans, default=0)}",
        style="dim",
    )
    return Group(Text("Depth profile", style="bold"), scale, res, ch, marks, legend)


def render_candidates(sel) -> Group:
    """Every candidate: whether it was chosen or why it may not be, its rules and reasons
    beneath."""
    chosen = set(sel.names)
    rows, notes = [], []
    for c in sel.candidates:
        status = "chosen" if c.name in chosen else ("eligible" if c.eligible else "not eligible")
        rows.append((c.name, f"{c.depth_frac:.0%}", f"{c.score:g}", status))
        notes.append("; ".join(filter(None, [c.note, *c.reasons])))
    title = Text("All candidates", style="bold")
    if not rows:
        return Group(title, Text("  none", style="dim"))
    return Group(title, _rows(["point", "depth", "score", "status"], rows, notes, {1, 2}, indent=4))


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def render_heads(run) -> Table:
    """The auxiliary heads: parameters and FLOPs, and their share of the model's."""
    design = (
        "FCN" if run.data.task == "segmentation" else run.spec.adapter
    )  # dense heads have one design
    from tapfinder.taps import HEAD_GRADIENT_WORDS

    rule = run.spec.head_gradient
    table = Table(
        title=f"Auxiliary heads ({design}, recipe {run.spec.recipe}); removed after training",
        title_justify="left",
        caption=None
        if rule == "full"
        else f"each head's gradient into the model: {HEAD_GRADIENT_WORDS[rule]} ({rule})",
        caption_justify="left",
        header_style="bold cyan",
    )
    for col in ("point", "head", "params", "share", "FLOPs", "share"):
        table.add_column(col, justify="left" if col in ("point", "head") else "right")
    for point, params, flops, design in run.heads:
        table.add_row(
            point,
            design,
            _si(params),
            f"{params / max(run.model_params, 1):.1%}",
            _si(flops),
            f"{flops / max(run.model_flops, 1):.1%}",
        )
    table.add_row("model", "", _si(run.model_params), "", _si(run.model_flops), "", style="dim")
    return table


def render_training(run) -> str:
    """One line: how it trains (epochs, steps, optimizer, schedule, device, precision)."""
    cfg, device = run.spec.train, run.device
    steps = -(-len(run.data.train) // cfg.batch_size)
    own = cfg.aux_state == "own"  # a second optimizer only where there are heads (aux terms)
    text = (
        f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''} × {steps} steps of {cfg.batch_size}, "
        f"{cfg.optimizer} "
        f"lr {cfg.lr:g}"
        + (f" wd {cfg.weight_decay:g}" if cfg.weight_decay else "")
        + (f", {cfg.schedule} schedule" if cfg.schedule != "none" else ", constant lr")
        + (f", clip {cfg.clip_grad:g}" if cfg.clip_grad else "")
        + (", aux terms on an optimizer state of their own" if own and run.heads else "")
        + f", seed {cfg.seed}, on {device}"
    )
    if cfg.amp:
        text += ", mixed precision" if device.type == "cuda" else " in fp32 (--amp needs CUDA)"
    if cfg.compile:
        text += ", compiled"
    return text


def render_train_row(row: dict, epochs: int) -> Text:
    heads = " ".join(f"{k[8:]} {v:.1%}" for k, v in row.items() if k.startswith("val_acc_"))
    if "val_miou" in row:
        heads = "mIoU " + " ".join(
            f"{k[9:] or 'main'} {100 * v:.1f}" for k, v in row.items() if k.startswith("val_miou")
        )
    losses = " ".join(f"{k[5:]} {v:.3f}" for k, v in row.items() if k.startswith("loss_"))
    return Text(
        f"epoch {row['epoch']:>3}/{epochs}  loss {row['loss']:.3f} ({losses})  val {heads}  "
        f"{row['seconds']:.1f} s"
    )


def render_run_end(history: list[dict]) -> Table:
    """The end of a run: the main head's last and best validation score, every head's last, the
    time."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    if not history:
        return table
    from deepsup.metrics import main_score_key

    key = main_score_key(history[-1])
    fmt = (lambda v: f"{v:.1%}") if key == "val_acc_main" else (lambda v: f"{100 * v:.1f} mIoU")  # noqa: E731
    best = max(history, key=lambda row: row.get(key, -math.inf))
    table.add_row(
        "epochs", f"{history[-1]['epoch']} ({sum(row['seconds'] for row in history):.0f} s)"
    )
    table.add_row(
        "main head",
        f"{fmt(history[-1][key])} at the end, best {fmt(best[key])} at epoch {best['epoch']}",
    )
    aux = {k[8:]: f"{v:.1%}" for k, v in history[-1].items() if k.startswith("val_acc_aux")}
    aux.update(
        {
            k[9:]: f"{100 * v:.1f} mIoU"
            for k, v in history[-1].items()
            if k.startswith("val_miou_aux")
        }
    )
    if aux:
        table.add_row(
            "aux heads",
            "  ".join(f"{name} {v}" for name, v in aux.items()) + "  (dropped on export)",
        )
    return table
