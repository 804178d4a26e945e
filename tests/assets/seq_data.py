"""[T, C] feature sequences (12 steps of 8 features): the class shows in one feature."""

import torch
from torch.utils.data import TensorDataset

NUM_CLASSES = 3


def get_datasets():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (600,), generator=g)
    x = torch.randn(600, 12, 8, generator=g) * 0.5
    x[torch.arange(600), :, y] += 1.0  # the class shows in one feature channel
    return TensorDataset(x[:500], y[:500]), TensorDataset(x[500:], y[500:])
