import torch
from torch.utils.data import TensorDataset

NUM_CLASSES = 10


def get_datasets():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    return TensorDataset(x[:48], y[:48]), TensorDataset(x[48:], y[48:])
