"""MONAI / nnU-Net style: a tapped model that returns ``[main, aux, ...]`` while training and the
plain output in eval, so ``monai.losses.DeepSupervisionLoss`` and ``sliding_window_inference``
work unchanged.

The list runs from the output inwards: the main head, then the heads from the deepest point to the
shallowest, as nnU-Net orders its levels (MONAI's decreasing ``exp`` weights then weigh the heads
nearest the output most). MONAI itself is not imported here.
"""

from __future__ import annotations

from torch import nn

from tapfinder.taps import TappedModel

__all__ = ["DeepSupervisionOutputs"]


class DeepSupervisionOutputs(nn.Module):
    """``tapped`` (from :func:`tapfinder.attach`) with list outputs in training, the model's own in
    eval; ``state_dict`` keys are ``tapped.model.*`` and ``tapped.heads.*``."""

    def __init__(self, tapped: TappedModel):
        super().__init__()
        self.tapped = tapped

    def forward(self, *args, **kwargs):
        if not self.training:
            return self.tapped.model(*args, **kwargs)
        out = self.tapped(*args, **kwargs)
        return [out.main, *reversed(out.aux)]

    def detach(self) -> nn.Module:
        """The trained model without its heads."""
        return self.tapped.detach()
