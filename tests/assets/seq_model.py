"""A sequence-first transformer over [B, T, C] feature sequences (fairseq / DETR style
attention)."""

from torch import nn


class Block(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.attn = nn.MultiheadAttention(c, 2)  # takes (T, B, C)
        self.n1, self.n2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.mlp = nn.Sequential(nn.Linear(c, 32), nn.GELU(), nn.Linear(32, c))

    def forward(self, x):
        t = self.n1(x).transpose(0, 1)
        x = x + self.attn(t, t, t, need_weights=False)[0].transpose(0, 1)
        return x + self.mlp(self.n2(x))


class SeqNet(nn.Module):
    def __init__(self, num_classes=3, in_channels=8):
        super().__init__()
        self.embed = nn.Linear(in_channels, 16)
        self.blocks = nn.Sequential(*(Block() for _ in range(4)))
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.blocks(self.embed(x)).mean(1))
