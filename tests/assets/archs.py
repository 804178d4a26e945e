"""Small models of the families users bring, written as a user would (one per row of issue 19)."""

import torch
import torch.nn.functional as F
from torch import nn


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AttentionGate(nn.Module):
    """Oktay et al.'s additive gate: the skip times a map computed from the skip and the decoder."""

    def __init__(self, skip: int, gate: int, mid: int):
        super().__init__()
        self.w_skip, self.w_gate = nn.Conv2d(skip, mid, 1), nn.Conv2d(gate, mid, 1)
        self.psi = nn.Sequential(nn.Conv2d(mid, 1, 1), nn.Sigmoid())

    def forward(self, skip, gate):
        return skip * self.psi(F.relu(self.w_skip(skip) + self.w_gate(gate)))


class GatedUNet(nn.Module):
    """A four-level attention UNet (Oktay et al. 2018) for segmentation."""

    def __init__(self, in_channels: int = 3, num_classes: int = 4, w: int = 8):
        super().__init__()
        self.enc1, self.enc2 = _double(in_channels, w), _double(w, 2 * w)
        self.enc3, self.enc4 = _double(2 * w, 4 * w), _double(4 * w, 8 * w)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double(8 * w, 16 * w)
        ups, gates, decs = [], [], []
        for c in (8 * w, 4 * w, 2 * w, w):
            ups.append(nn.ConvTranspose2d(2 * c, c, 2, 2))
            gates.append(AttentionGate(c, c, max(c // 2, 4)))
            decs.append(_double(2 * c, c))
        self.up4, self.up3, self.up2, self.up1 = ups
        self.gate4, self.gate3, self.gate2, self.gate1 = gates
        self.dec4, self.dec3, self.dec2, self.dec1 = decs
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        e4 = self.enc4(self.pool(e3))
        d = self.bottleneck(self.pool(e4))
        for up, gate, dec, skip in (
            (self.up4, self.gate4, self.dec4, e4),
            (self.up3, self.gate3, self.dec3, e3),
            (self.up2, self.gate2, self.dec2, e2),
            (self.up1, self.gate1, self.dec1, e1),
        ):
            u = up(d)
            d = dec(torch.cat([u, gate(skip, u)], 1))
        return self.head(d)


class LSTMStack(nn.Module):
    """Stacked recurrent layers over [B, T, C] feature sequences, classified from the last step."""

    def __init__(
        self,
        in_channels: int = 8,
        num_classes: int = 5,
        hidden: int = 32,
        layers: int = 4,
        cell: str = "lstm",
    ):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.embed = nn.Linear(in_channels, hidden)
        self.rnns = nn.ModuleList(rnn(hidden, hidden, batch_first=True) for _ in range(layers))
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.embed(x)
        for rnn in self.rnns:
            x, _ = rnn(x)
        return self.fc(x[:, -1])


class CausalBlock(nn.Module):
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


class TinyGPT(nn.Module):
    """A GPT-style causal LM: token and position embeddings, blocks, final norm, unembedding."""

    def __init__(
        self, vocab: int = 64, d: int = 32, depth: int = 8, heads: int = 4, context: int = 32
    ):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(CausalBlock(d, heads) for _ in range(depth))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class Expert(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class MoE(nn.Module):
    """Top-1 routing: each token runs through the one expert its router picks (data-dependent)."""

    def __init__(self, d: int, experts: int = 4):
        super().__init__()
        self.router = nn.Linear(d, experts)
        self.experts = nn.ModuleList(Expert(d) for _ in range(experts))

    def forward(self, x):
        b, t, d = x.shape
        flat = x.reshape(-1, d)
        choice = self.router(flat).argmax(-1)
        out = torch.zeros_like(flat)
        for i, expert in enumerate(self.experts):
            idx = (choice == i).nonzero().squeeze(-1)
            if idx.numel():
                out[idx] = expert(flat[idx])
        return x + out.reshape(b, t, d)


class MoEBlock(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d), nn.MultiheadAttention(d, 4, batch_first=True)
        self.norm2, self.moe = nn.LayerNorm(d), MoE(d)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return self.moe(self.norm2(x))


class MoETransformer(nn.Module):
    """A mixture-of-experts transformer over [B, T, C] sequences, its blocks in one container."""

    def __init__(self, in_channels: int = 16, num_classes: int = 10, d: int = 32, depth: int = 6):
        super().__init__()
        self.embed = nn.Linear(in_channels, d)
        self.blocks = nn.Sequential(*[MoEBlock(d) for _ in range(depth)])
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        return self.head(self.blocks(self.embed(x)).mean(1))


class DETRLike(nn.Module):
    """A CNN backbone, then nn.Transformer over its feature map with learned object queries."""

    def __init__(self, num_classes: int = 5, d: int = 32, queries: int = 4):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, d, 1),
        )
        self.transformer = nn.Transformer(
            d, 4, num_encoder_layers=3, num_decoder_layers=3, dim_feedforward=64, batch_first=True
        )
        self.query = nn.Parameter(torch.randn(queries, d))
        self.cls = nn.Linear(d, num_classes)

    def forward(self, x):
        f = self.backbone(x).flatten(2).transpose(1, 2)
        q = self.query.expand(x.shape[0], -1, -1)
        return self.cls(self.transformer(f, q).mean(1))


class Siamese(nn.Module):
    """One trunk applied to two images; the pair's embeddings are fused by cat for a verdict."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.trunk = nn.Sequential(
            _double(3, 8),
            nn.MaxPool2d(2),
            _double(8, 16),
            nn.MaxPool2d(2),
            _double(16, 32),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, a, b):
        return self.fc(torch.cat([self.trunk(a), self.trunk(b)], 1))


class ImageTabular(nn.Module):
    """An image branch and a tabular branch, fused for one prediction; the input is a dict."""

    def __init__(self, num_classes: int = 3, tabular: int = 6):
        super().__init__()
        self.image = nn.Sequential(
            _double(3, 8),
            nn.MaxPool2d(2),
            _double(8, 16),
            nn.MaxPool2d(2),
            _double(16, 16),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.table = nn.Sequential(nn.Linear(tabular, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        self.fuse = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.fc = nn.Linear(32, num_classes)

    def forward(self, batch: dict):
        return self.fc(
            self.fuse(torch.cat([self.image(batch["image"]), self.table(batch["tabular"])], 1))
        )
