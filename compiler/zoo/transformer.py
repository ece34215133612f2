"""Attention and token models of the zoo, written in plain torch.nn.

Two attention spellings on purpose: `VisionTransformer` uses `nn.MultiheadAttention` (what most user code
does, packed q/k/v projection), `EncoderBlock` writes the heads out with `nn.Linear`, matmul and softmax (what
an exported BERT-style graph looks like). Shapes are static: head splits use constructor constants.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PreNormEncoderLayer(nn.Module):
    """ViT encoder layer: x + MHA(LN(x)), then x + MLP(LN(x)) with exact (erf) GELU."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """Tiny ViT: patch embedding by a strided conv, class token, learned position embedding, pre-norm encoder
    layers, final LayerNorm, linear head on the class token."""

    def __init__(self, image_size: int = 32, patch: int = 8, in_channels: int = 3, dim: int = 64, depth: int = 2,
                 heads: int = 4, mlp_ratio: int = 4, num_classes: int = 10):
        super().__init__()
        tokens = (image_size // patch) ** 2 + 1
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, 1, dim), std=0.02))
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, tokens, dim), std=0.02))
        self.layers = nn.Sequential(*(PreNormEncoderLayer(dim, heads, mlp_ratio * dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.layers(x))
        return self.head(x[:, 0])


class EncoderBlock(nn.Module):
    """BERT-style post-norm encoder block: x = LN(x + MHA(x)), x = LN(x + FFN(x)), with the attention written out
    (separate q/k/v/out linears, softmax(q k^T / sqrt(d)) v) and the tanh approximation of GELU."""

    def __init__(self, dim: int = 64, heads: int = 4, hidden: int = 256):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        context = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, dim)
        x = self.norm1(x + self.out(context))
        return self.norm2(x + self.ffn(x))


class EmbedClassifier(nn.Module):
    """Token ids (int64) -> embedding lookup -> mean over the sequence -> linear classifier."""

    def __init__(self, vocab: int = 256, dim: int = 32, num_classes: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(tokens).mean(dim=1))
