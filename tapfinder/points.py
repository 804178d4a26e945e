"""The value types of a selection: one :class:`TapPoint` per candidate or chosen point, and why a
candidate may not be chosen automatically (:class:`Eligibility`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

__all__ = ["TapPoint", "Eligibility"]


class Eligibility(str, Enum):
    """Whether the automatic selector may choose a candidate; the value is what a person reads."""

    ELIGIBLE = ""
    IN_BRANCH = "inside a branch: sees only part of the signal"
    NOT_A_TENSOR = "not a single tensor"
    IN_STEM = "in the stem"
    NEAR_OUTPUT = "next to the output"


@dataclass(frozen=True)
class TapPoint:
    """A place in the model graph where an auxiliary head can read the features.

    Attributes:
        name: the graph node (a module path such as ``layer2`` where the node is a module output).
        module: the module whose output this is (``""`` when the point is an op inside a forward).
        shape: the output shape at the example input, batch first.
        depth: weighted layers from the input up to and including this node.
        depth_frac: ``depth / D``.
        rules: the rules that marked this point, strongest first.
        reasons: one human-readable reason per finding.
        score: the sum over rules of each rule's strongest weight here.
        whole_signal: whether every input-to-output path passes through this point (or it is an
            encoder-decoder skip source, or a decoder stage of a dense-output model).
        eligibility: whether the automatic selector may choose it, and if not why (``note``).
    """

    name: str
    module: str
    shape: tuple
    depth: int
    depth_frac: float
    rules: tuple = ()
    reasons: tuple = ()
    score: float = 0.0
    whole_signal: bool = True
    eligibility: Eligibility = Eligibility.ELIGIBLE

    def __post_init__(self):
        if not self.name:
            raise ValueError("a tap point needs a name")
        if not 0.0 <= self.depth_frac <= 1.0:
            raise ValueError(
                f"depth_frac of {self.name!r} must be in [0, 1], got {self.depth_frac}"
            )
        if self.depth < 0 or self.score < 0:
            raise ValueError(f"depth and score of {self.name!r} must be non-negative")
        object.__setattr__(self, "shape", tuple(self.shape) if self.shape is not None else ())
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "eligibility", Eligibility(self.eligibility))

    @property
    def eligible(self) -> bool:
        """Whether the automatic selector may choose this point."""
        return self.eligibility is Eligibility.ELIGIBLE

    @property
    def note(self) -> str:
        """Why the point may not be chosen automatically; empty when it may."""
        return self.eligibility.value

    def to_dict(self) -> dict:
        data = asdict(self)
        data["eligibility"] = self.eligibility.name.lower()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TapPoint":
        """The point :meth:`to_dict` wrote (or a format-1 file's, whose ``note`` held the
        reason)."""
        data = dict(data)
        note = data.pop("note", None)
        if "eligibility" in data:
            data["eligibility"] = Eligibility[data["eligibility"].upper()]
        elif note is not None:
            data["eligibility"] = Eligibility(note)
        return cls(**data)
