"""Sequence models of the per-token and recurrent benchmark regimes.

``gpt_char``: a GPT-style causal language model (token and position embeddings, 8 pre-norm blocks
of causal self-attention and an MLP, a final LayerNorm, an unembedding tied to the embedding) over
the 96 characters of the built-in ``text`` set, context 64. ``lstm1d4``: 4 stacked LSTM layers over
MNIST-1D signals read as sequences of 40 one-dimensional steps, classified from the last step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model

__all__ = ["CausalLM", "LSTMClassifier"]


class _Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class CausalLM(nn.Module):
    def __init__(
        self,
        num_classes: int = 96,
        width: int = 64,
        depth: int = 8,
        heads: int = 4,
        context: int = 64,
    ):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(num_classes, width), nn.Embedding(context, width)
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(depth))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, num_classes, bias=False)
        self.lm_head.weight = self.wte.weight
        for embedding in (self.wte, self.wpe):  # GPT-2's initialisation: small logits at the start
            nn.init.normal_(embedding.weight, std=0.02)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class LSTMClassifier(nn.Module):
    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, hidden: int = 64, layers: int = 4
    ):
        super().__init__()
        self.embed = nn.Linear(in_channels, hidden)
        self.rnns = nn.ModuleList(nn.LSTM(hidden, hidden, batch_first=True) for _ in range(layers))
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):  # [B, C, L] signals, read as L steps of C features
        x = self.embed(x.transpose(1, 2))
        for rnn in self.rnns:
            x, _ = rnn(x)
        return self.fc(x[:, -1])


def _tokens(**kw):
    kw.pop("in_channels", None)
    return CausalLM(**kw)


register_model("gpt_char", (2, 64))(_tokens)
register_model("lstm1d4", (2, 1, 40))(lambda **kw: LSTMClassifier(**kw))
