"""The value types of a selection: one :class:`TapPoint` per candidate or chosen point."""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["TapPoint"]


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
        note: why the point may not be chosen automatically; empty when it may.
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
    note: str = ""

    def __post_init__(self):
        if not self.name:
            raise ValueError("a tap point needs a name")
        if not 0.0 <= self.depth_frac <= 1.0:
            raise ValueError(f"depth_frac of {self.name!r} must be in [0, 1], got {self.depth_frac}")
        if self.depth < 0 or self.score < 0:
            raise ValueError(f"depth and score of {self.name!r} must be non-negative")
        object.__setattr__(self, "shape", tuple(self.shape) if self.shape is not None else ())
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "reasons", tuple(self.reasons))

    @property
    def eligible(self) -> bool:
        """Whether the automatic selector may choose this point."""
        return not self.note

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TapPoint":
        return cls(**data)
