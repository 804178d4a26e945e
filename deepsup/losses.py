"""Deep-supervision losses, composable, computed in fp32 (KL and entropy are unstable in half).

Recipes (:data:`RECIPES`): ``baseline`` (CE on the main head), ``dsn`` (+ α Σ [CE(aux) − γ]₊),
``dks`` (CE on every head + KL synergy between heads), ``imachsr`` (+ α Σ CE(aux) + λ Σ negative
entropy of the tapped features); any of them may add ``kd`` (main → aux distillation). Every aux
head's loss is always computed, with a zero weight when α has decayed, so DDP never sees an unused
parameter. Each term, its weights and the evidence for the defaults: ``docs/recipes.md`` (also why
heads on a norm-free net carry no BatchNorm, and what did not keep its main head alive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from tapfinder.errors import ConfigError

from .distributed import mean_over_processes

__all__ = [
    "AUTO_RECIPE",
    "resolve_recipe",
    "LossConfig",
    "DeepSupervisionLoss",
    "RECIPES",
    "describe",
    "loss_config",
    "make_loss",
    "main_logits",
    "negative_entropy",
    "synergy",
]

RECIPES = ("baseline", "dsn", "dks", "imachsr")
# what ``recipe="auto"`` trains with, per task: the recipe of the benchmarks here with the fewest
# regimes where it harms the main head (classification: dsn at α 1 with the lead gate; on plain
# nets it works with the tail point of tapfinder's selector; evidence: docs/recipes.md, "The lead
# gate" and "A head on a plain net's tail", and benchmarks/README.md)
AUTO_RECIPE = {"classification": "dsn", "segmentation": "imachsr", "token": "dsn"}
DIRECTIONS = ("auto", "bi", "top-down", "bottom-up")
GATES = ("none", "lead", "best")
# the lead gate's smoothing, as a fraction of the way from chance to a perfect head: with every
# head near chance (the start of training) the gate stays near 1 instead of dividing noise by noise
LEAD_EPS = 0.05
_AUX = ("dsn", "dks", "imachsr")
# the recipes that read each option; setting one that the recipe ignores is a mistake worth saying
READ_BY = {
    "alpha": _AUX,
    "alpha_decay": _AUX,
    "alpha_gate": _AUX,
    "gamma": ("dsn",),
    "direction": ("dks",),
    "beta": ("dks",),
    "lam": ("imachsr",),
    "kd": _AUX,
    "fade_by": _AUX,
    "temperature": _AUX,
    "dense": _AUX,
}


@dataclass(frozen=True)
class LossConfig:
    recipe: str = "dks"
    alpha: float | None = (
        None  # aux CE weight; None: the recipe's default (dsn 1.0, dks 1.0, imachsr 0.3)
    )
    alpha_decay: bool = False  # linear decay of alpha to 0 over training (dsn)
    # an aux head's weight falls while the main head leads it; "best": while any head leads it
    alpha_gate: str = "lead"
    gamma: float = 0.0  # DSN margin: aux loss below gamma is not pushed further
    direction: str = "auto"  # DKS synergy pairs; auto: bi between vectors, top-down between maps
    beta: float = 1.0  # DKS synergy weight
    lam: float = 0.01  # iMacHSR negative-entropy weight
    kd: float = 0.0  # weight of main → aux distillation (0: off)
    fade_by: float | None = None  # every aux term's weight falls linearly to 0 by this progress
    temperature: float = 2.0
    dense: str = (
        "upsample"  # a coarse dense head: "upsample" its logits, or "downsample" the target
    )

    def __post_init__(self):
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {self.recipe!r}; use one of {', '.join(RECIPES)}")
        if self.dense not in ("upsample", "downsample"):
            raise ConfigError(
                f"dense must be 'upsample' (logits to the target) or 'downsample' (the target "
                f"to the logits), got {self.dense!r}"
            )
        if self.alpha_gate not in GATES:
            raise ConfigError(
                f"alpha_gate must be one of {', '.join(GATES)}, got {self.alpha_gate!r}"
            )
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"DKS direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}"
            )
        for name in ("alpha", "gamma", "beta", "lam", "kd"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # NaN fails too
                raise ConfigError(f"the loss's {name} must be 0 or more, got {value}")
        if self.fade_by is not None and not 0 < self.fade_by <= 1:
            raise ConfigError(
                f"fade_by is the fraction of training by which the aux terms fade out, in (0, 1]; "
                f"got {self.fade_by}"
            )
        if not self.temperature > 0:
            raise ConfigError(
                f"the distillation temperature must be above 0, got {self.temperature}"
            )

    @property
    def aux_weight(self) -> float:
        return (
            self.alpha
            if self.alpha is not None
            else {"dsn": 1.0, "dks": 1.0, "imachsr": 0.3}.get(self.recipe, 0.0)
        )


def _ce(logits: torch.Tensor, target: torch.Tensor, dense: str = "upsample") -> torch.Tensor:
    logits = logits.float()
    if logits.dim() > 2 and logits.shape[2:] != target.shape[1:]:  # dense heads read coarser maps
        if dense == "downsample":  # nearest labels at the head's resolution (nnU-Net's way)
            target = F.interpolate(target[:, None].float(), size=logits.shape[2:], mode="nearest")[
                :, 0
            ].long()
        else:
            logits = F.interpolate(
                logits,
                size=target.shape[1:],
                mode="bilinear" if logits.dim() == 4 else "linear",
                align_corners=False,
            )
    return F.cross_entropy(logits, target)


def _kl(teacher: torch.Tensor, student: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(softmax(teacher/T).detach() ‖ softmax(student/T)), mean over samples (and positions)."""
    t = F.log_softmax(teacher.detach().float() / temperature, dim=1)
    s = F.log_softmax(student.float() / temperature, dim=1)
    kl = (t.exp() * (t - s)).sum(1)
    return kl.mean() * temperature**2


def resolved_direction(direction: str, dense: bool) -> str:
    """What the DKS ``direction`` means for heads that predict maps (``dense``) or class vectors.

    >>> cases = (("auto", True), ("auto", False), ("bi", True))
    >>> [resolved_direction(d, dense) for d, dense in cases]
    ['top-down', 'bi', 'bi']
    """
    return ("top-down" if dense else "bi") if direction == "auto" else direction


def synergy(
    logits: list[torch.Tensor], direction: str = "auto", dense: bool | None = None
) -> torch.Tensor:
    """DKS synergy over heads ordered shallow → deep (the main head last), classes on axis 1.

    top-down: deeper heads teach shallower ones; bottom-up: the reverse; bi: both; auto: bi between
    class vectors (or per-token distributions), top-down between dense maps (a coarse map teaching a
    finer one blurs it). ``dense``: whether these are maps (default: logits of more than 2 dims).
    """
    dense = any(t.dim() > 2 for t in logits) if dense is None else dense
    direction = resolved_direction(direction, dense=dense)
    total = logits[0].new_zeros((), dtype=torch.float32)
    for m, teacher in enumerate(logits):
        for n, student in enumerate(logits):
            if (
                m == n
                or (direction == "top-down" and m < n)
                or (direction == "bottom-up" and m > n)
            ):
                continue
            total = total + _kl(teacher, _match(student, teacher))
    return total


def _match(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    if student.dim() > 2 and student.shape[2:] != teacher.shape[2:]:
        return F.interpolate(
            student.float(), size=teacher.shape[2:], mode="bilinear", align_corners=False
        )
    return student


def main_logits(out) -> torch.Tensor:
    """The main prediction in what a model (or a tapped model) returns: a tensor, the ``out`` entry
    of a dict (torchvision's segmentation models), ``logits`` (Hugging Face), or a tuple's first
    tensor.

    >>> x = torch.zeros(1, 3)
    >>> all(main_logits(o) is x for o in (x, {"out": x, "aux": x}, (x, 1), {"logits": x}))
    True
    """
    out = out.main if hasattr(out, "main") else out
    if isinstance(out, dict):
        keyed = [out[k] for k in ("out", "logits") if isinstance(out.get(k), torch.Tensor)]
        out = keyed or list(out.values())
    if isinstance(out, (list, tuple)):
        out = next((t for t in out if isinstance(t, torch.Tensor)), out)
    if not isinstance(out, torch.Tensor):
        raise ConfigError(
            f"cannot find the prediction in the model's {type(out).__name__} output; return a "
            "tensor, or a dict with 'out' or 'logits'"
        )
    return out


def negative_entropy(features: torch.Tensor, layout: str = "channels_first") -> torch.Tensor:
    """Σ p log p of the softmax over channels at every position, averaged (≤ 0; minimising it
    spreads the features over channels, iMacHSR Eq. 2)."""
    z = features.float()
    dim = 1 if layout == "channels_first" or z.dim() == 2 else -1
    logp = F.log_softmax(z, dim=dim)
    return (logp.exp() * logp).sum(dim).mean()


@dataclass
class DeepSupervisionLoss:
    """The loss of one recipe; see :func:`make_loss`."""

    config: LossConfig
    layouts: list = field(default_factory=list)
    task: str = "classification"  # "token": logits [B, T, V] and targets [B, T]

    def __call__(self, out, target: torch.Tensor, progress: float = 0.0):
        """``(total, terms)`` for a model's output on a batch.

        Args:
            out: a :class:`~tapfinder.taps.TapOutput`, or a plain model output (the main head).
            target: class ids, ``[B]`` (classification) or ``[B, *spatial]`` (segmentation).
            progress: how far training is, from 0 at the first step to 1 at the last (aux weights
                that decay read it).

        Returns:
            ``total``, the scalar to backpropagate, and ``terms``: each term before its weight
            (``main``, ``aux0``..., ``synergy``, ``ne0``..., ``kd0``...), detached, for logging.
        """
        total, terms = self._terms(out, target, progress)
        return total, {k: v.detach() for k, v in terms.items()}

    def parts(self, out, target: torch.Tensor, progress: float = 0.0):
        """``(main, extra, terms)``: the main head's CE and what deep supervision adds, both with
        their graphs (for a trainer that steps each through an optimizer state of its own), and the
        detached terms; ``extra`` is None where nothing is added (the baseline, no aux heads)."""
        total, terms = self._terms(out, target, progress)
        extra = None if total is terms["main"] else total - terms["main"]
        return terms["main"], extra, {k: v.detach() for k, v in terms.items()}

    def extra(self, out, target: torch.Tensor, progress: float = 0.0):
        """``(total − the main head's CE, terms)``: what deep supervision adds to a loss of one's
        own (a framework's training step that already computes the main head's loss)."""
        total, terms = self._terms(out, target, progress)
        return total - terms["main"], {k: v.detach() for k, v in terms.items()}

    def _terms(self, out, target: torch.Tensor, progress: float):
        cfg = self.config
        main = main_logits(out)
        aux = list(getattr(out, "aux", []) or [])
        if self.task == "token":  # classes on axis 1, positions after, as for maps
            main, aux = main.transpose(1, 2), [a.transpose(1, 2) for a in aux]
        terms = {"main": _ce(main, target)}
        total = terms["main"]
        if cfg.recipe == "baseline" or not aux:
            return total, terms
        alpha = cfg.aux_weight * ((1.0 - progress) if cfg.alpha_decay else 1.0)
        ces = [_ce(logits, target, cfg.dense) for logits in aux]
        gates = (
            [1.0] * len(ces)
            if cfg.alpha_gate == "none"
            else _lead_gates(terms["main"], ces, main.shape[1], cfg.alpha_gate == "best")
        )
        for i, ce in enumerate(ces):
            terms[f"aux{i}"] = ce
            if cfg.recipe == "dsn":
                ce = torch.clamp(ce - cfg.gamma, min=0.0)
            total = total + alpha * gates[i] * ce
        if cfg.recipe == "dks":
            terms["synergy"] = synergy(
                [*aux, main], cfg.direction, dense=self.task == "segmentation"
            )
            total = total + cfg.beta * terms["synergy"]
        if cfg.recipe == "imachsr":
            feats = list(getattr(out, "features", []) or [])
            for i, f in enumerate(feats):
                ne = negative_entropy(
                    f, self.layouts[i] if i < len(self.layouts) else "channels_first"
                )
                terms[f"ne{i}"] = ne
                total = total + cfg.lam * ne
        if cfg.kd > 0:
            for i, logits in enumerate(aux):
                terms[f"kd{i}"] = _kl(main, _match(logits, main), cfg.temperature)
                total = total + cfg.kd * gates[i] * terms[f"kd{i}"]
        if cfg.fade_by is not None:
            total = terms["main"] + fading(progress, cfg.fade_by) * (total - terms["main"])
        return total, terms


def _lead_gates(main_ce: torch.Tensor, aux_ces: list, num_classes: int, best: bool = False) -> list:
    """:func:`lead_gate` of each aux head against the main head (against the head nearest a
    perfect one, main or aux, with ``best``), from the losses averaged over the processes of a
    distributed run, so that every process weighs its half of a batch as one process would the
    whole batch."""
    shared = mean_over_processes(torch.stack([main_ce, *aux_ces]))
    leader = shared.min() if best else shared[0]
    return [lead_gate(ce, leader, num_classes) for ce in shared[1:]]


def lead_gate(aux_ce: torch.Tensor, main_ce: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The factor on an aux head's weight for this batch: 1 while the head is at least as far
    from chance as the main head, and ``(p_aux + ε) / (p_main + ε)`` once the main head leads it,
    where ``p = 1 − CE / ln C`` clipped to [0, 1] (0 at chance, 1 for a perfect head) and ε is
    :data:`LEAD_EPS`. Detached: the gate weighs the aux loss and is not itself trained.

    >>> ce = lambda p: torch.tensor((1 - p) * math.log(10))
    >>> [round(float(lead_gate(ce(a), ce(m), 10)), 2) for a, m in ((0.5, 0.2), (0.0, 0.0),
    ...     (0.2, 0.95))]
    [1.0, 1.0, 0.25]
    """
    if num_classes < 2:
        return torch.ones((), device=aux_ce.device)
    chance = math.log(num_classes)
    p_aux, p_main = ((1 - ce.detach().float() / chance).clamp(0, 1) for ce in (aux_ce, main_ce))
    return ((p_aux + LEAD_EPS) / (p_main + LEAD_EPS)).clamp(max=1.0)


def fading(progress: float, fade_by: float) -> float:
    """The weight of the aux terms at ``progress``: 1 at the start, falling linearly to 0 at
    ``fade_by`` and 0 after.

    >>> [fading(p, 0.5) for p in (0.0, 0.25, 0.5, 0.9)]
    [1.0, 0.5, 0.0, 0.0]
    """
    return max(0.0, 1.0 - progress / fade_by)


def loss_config(recipe: str = "dks", **options) -> LossConfig:
    """The loss settings of ``recipe`` with ``options`` changed from its defaults; an option the
    recipe does not read is refused rather than silently ignored.

    >>> loss_config("dsn", alpha=0.4, alpha_decay=True).aux_weight
    0.4
    >>> loss_config("dsn", direction="top-down")
    Traceback (most recent call last):
    tapfinder.errors.ConfigError: the loss option direction does nothing in recipe dsn (only dks ...
    """
    for name in options:
        if name not in READ_BY:
            raise ConfigError(f"unknown loss option {name!r}; use {', '.join(READ_BY)}")
        if recipe in RECIPES and recipe not in READ_BY[name]:
            raise ConfigError(
                f"the loss option {name} does nothing in recipe {recipe} (only "
                f"{', '.join(READ_BY[name])} reads it); drop it or use that recipe"
            )
    return LossConfig(recipe=recipe, **options)


def describe(cfg: LossConfig, task: str | None = None) -> str:
    """The loss in words, with every weight (for the preview); with the ``task``, the synergy pairs
    that ``auto`` resolves to.

    >>> for part in describe(LossConfig("dks")).split(" + "):
    ...     print(part)
    CE on the main head
    1 × CE on each aux head, lowered while the main head leads that head
    1 × KL synergy between all heads (bi-directional; between maps deeper heads teach shallower)
    >>> cfg = LossConfig("dsn", alpha=0.3, alpha_decay=True, alpha_gate="none", gamma=0.5, kd=0.5)
    >>> for part in describe(cfg).split(" + "):
    ...     print(part)
    CE on the main head
    0.3 × CE on each aux head, decayed linearly to 0, margin γ 0.5
    0.5 × KD main → aux (T 2)
    >>> describe(LossConfig("dks"), task="segmentation").endswith("(deeper heads teach shallower)")
    True
    """
    parts = ["CE on the main head"]
    if cfg.recipe == "baseline":
        return parts[0]
    aux = f"{cfg.aux_weight:g} × CE on each aux head"
    if cfg.alpha_decay:
        aux += ", decayed linearly to 0"
    if cfg.alpha_gate == "lead":
        aux += ", lowered while the main head leads that head"
    if cfg.alpha_gate == "best":
        aux += ", lowered while another head leads that head"
    if cfg.recipe == "dsn" and cfg.gamma:
        aux += f", margin γ {cfg.gamma:g}"
    parts.append(aux)
    if cfg.recipe == "dks":
        direction = (
            cfg.direction
            if task is None
            else resolved_direction(cfg.direction, task == "segmentation")
        )
        pairs = {
            "auto": "bi-directional; between maps deeper heads teach shallower",
            "bi": "bi-directional",
            "top-down": "deeper heads teach shallower",
            "bottom-up": "shallower heads teach deeper",
        }[direction]
        parts.append(f"{cfg.beta:g} × KL synergy between all heads ({pairs})")
    if cfg.recipe == "imachsr":
        parts.append(f"{cfg.lam:g} × negative entropy of the tapped features")
    if cfg.kd:
        parts.append(f"{cfg.kd:g} × KD main → aux (T {cfg.temperature:g})")
    if cfg.fade_by is not None:
        parts[1:] = [f"({' + '.join(parts[1:])}) fading to 0 by {cfg.fade_by:.0%} of training"]
    if cfg.dense == "downsample":
        parts.append("coarse heads scored against a downsampled target")
    return " + ".join(parts)


def resolve_recipe(recipe: str, task: str) -> str:
    """``auto`` → the task's default recipe; any other name is checked and returned.

    >>> resolve_recipe("auto", "segmentation"), resolve_recipe("auto", "token")
    ('imachsr', 'dsn')
    """
    if recipe == "auto":
        return AUTO_RECIPE.get(task, "dsn")
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; use auto or one of {', '.join(RECIPES)}")
    return recipe


def make_loss(
    recipe: str = "dks", layouts: list | None = None, task: str = "classification", **options
) -> DeepSupervisionLoss:
    """The deep-supervision loss of ``recipe`` (``baseline``, ``dsn``, ``dks``, ``imachsr``) with
    ``options`` changed from its defaults (see :func:`loss_config`); ``layouts``: the tapped
    features' layouts (``TappedModel.layouts``), for terms on the features themselves; ``task``:
    ``token`` where every position of [B, T, V] logits has a target (a language model).

    Call it as ``total, terms = loss(tapped(x), y, progress)`` with ``progress`` in [0, 1].

    >>> import torch
    >>> loss = make_loss("dsn", alpha=0.5)
    >>> total, terms = loss(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))
    >>> round(float(total), 4), sorted(terms)
    (1.0986, ['main'])
    """
    return DeepSupervisionLoss(loss_config(recipe, **options), list(layouts or []), task)
