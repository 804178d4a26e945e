"""A model file as a user writes one: a small residual CNN with three stages (layer1..layer3).

`tapfinder` builds it with the data's classes and channels because the class takes `num_classes`
and `in_channels`; `example_input()` says what it takes when no data is given (`tapfinder inspect`).
"""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (
            nn.Sequential()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


class MyNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.layer1 = nn.Sequential(*[Block(width, width) for _ in range(3)])
        self.layer2 = nn.Sequential(
            Block(width, 2 * width, 2), *[Block(2 * width, 2 * width) for _ in range(2)]
        )
        self.layer3 = nn.Sequential(
            Block(2 * width, 4 * width, 2), *[Block(4 * width, 4 * width) for _ in range(2)]
        )
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(x.mean((2, 3)))


def example_input():
    return torch.randn(2, 3, 32, 32)
