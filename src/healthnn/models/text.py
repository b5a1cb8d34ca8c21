"""Text classifiers over token ids: a bidirectional GRU with attention pooling and a small
Transformer encoder.

Both take ``(N, L)`` int64 token ids with 0 as padding and share one layout, so a pretrained
encoder (masked-token pretraining, a later issue) can be loaded into ``embedding`` and
``encoder`` by name::

    embedding  nn.Embedding(vocab, dim, padding_idx=0)
    encoder    token vectors (N, L, dim) + mask -> pooled document vector (N, out_dim)
    head       dropout + linear -> class logits

``forward_embeddings`` starts from token vectors, for integrated gradients; ``embed`` returns
the pooled document vector (search uses it).

>>> import torch
>>> m = GRUAttentionClassifier(50, 3, embed_dim=8, hidden=8)
>>> ids = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])
>>> m(ids).shape, m.embed(ids).shape
(torch.Size([2, 3]), torch.Size([2, 16]))
>>> TransformerClassifier(50, 2, dim=16, heads=2, layers=1, ff=32)(ids).shape
torch.Size([2, 2])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from healthnn.models.registry import register

__all__ = ["TextClassifier", "GRUAttentionClassifier", "TransformerClassifier"]

_TASKS = ("text_classification",)


def trim_padding(ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop the all-padding columns at the end of a batch (a shorter batch runs faster)."""
    if ids.shape[1] == 0:
        return ids
    used = (ids != pad_id).any(0)
    n = int(used.nonzero().max()) + 1 if used.any() else 1
    return ids[:, :n]


class TextClassifier(nn.Module):
    """Token embedding -> encoder (pooled) -> linear head."""

    embedding: nn.Embedding
    encoder: nn.Module
    head: nn.Module
    pad_id = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = trim_padding(ids)
        return self.forward_embeddings(self.embedding(ids), ids != 0)

    def forward_embeddings(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x, mask))

    @torch.no_grad()
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        ids = trim_padding(ids)
        return self.encoder(self.embedding(ids), ids != 0)


class _AttentionPool(nn.Module):
    """Additive attention over time steps (Bahdanau-style), padding masked out."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.score(torch.tanh(self.proj(h))).squeeze(-1)
        a = a.masked_fill(~mask, torch.finfo(a.dtype).min)
        w = torch.softmax(a, dim=1) * mask
        w = w / w.sum(1, keepdim=True).clamp_min(1e-9)
        return (w.unsqueeze(-1) * h).sum(1)


class _GRUEncoder(nn.Module):
    def __init__(self, embed_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn = nn.GRU(embed_dim, hidden, num_layers=layers, batch_first=True,
                          bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.pool = _AttentionPool(2 * hidden)
        self.drop = nn.Dropout(dropout)

    def tokens(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token states ``(batch, length, 2 * hidden)`` (masked-token pretraining)."""
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(x), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.rnn(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return h

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x, mask)
        m = mask.clone()
        m[:, 0] |= ~mask.any(1)  # an empty row pools its first (zero) step
        return self.pool(h, m)


class GRUAttentionClassifier(TextClassifier):
    """Bidirectional GRU over token embeddings with attention pooling."""

    def __init__(self, vocab_size: int, out_features: int, *, embed_dim: int = 128,
                 hidden: int = 128, layers: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.encoder = _GRUEncoder(embed_dim, hidden, layers, dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, out_features))


class _TransformerEncoder(nn.Module):
    def __init__(self, dim: int, heads: int, layers: int, ff: int, dropout: float,
                 max_positions: int) -> None:
        super().__init__()
        self.position = nn.Embedding(max_positions, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.scale = math.sqrt(dim)

    def tokens(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token states ``(batch, length, dim)`` (masked-token pretraining)."""
        pos = torch.arange(x.shape[1], device=x.device)
        h = x * self.scale + self.position(pos)[None]
        m = mask.clone()
        m[:, 0] |= ~mask.any(1)  # an all-padding row attends to its first position
        return self.norm(self.layers(h, src_key_padding_mask=~m))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x, mask)
        m = mask.clone()
        m[:, 0] |= ~mask.any(1)
        w = m.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1) / w.sum(1)  # mean over real tokens


class TransformerClassifier(TextClassifier):
    """A small pre-norm Transformer encoder with learned positions and mean pooling."""

    def __init__(self, vocab_size: int, out_features: int, *, dim: int = 128, heads: int = 4,
                 layers: int = 2, ff: int = 256, dropout: float = 0.1,
                 max_positions: int = 512) -> None:
        super().__init__()
        if dim % heads:
            from healthnn.errors import ConfigError

            raise ConfigError(f"dim ({dim}) must be a multiple of heads ({heads})",
                              key="model.heads")
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.encoder = _TransformerEncoder(dim, heads, layers, ff, dropout, max_positions)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, out_features))


@register("bigru_attention", tasks=_TASKS, embed_dim=128, hidden=128, layers=1, dropout=0.2)
def bigru_attention(in_features: int, out_features: int, **params) -> nn.Module:
    """Bidirectional GRU with attention pooling (in_features = vocabulary size)."""
    return GRUAttentionClassifier(in_features, out_features, **params)


@register("text_transformer", tasks=_TASKS, dim=128, heads=4, layers=2, ff=256, dropout=0.1,
          max_positions=512)
def text_transformer(in_features: int, out_features: int, **params) -> nn.Module:
    """Small Transformer encoder with mean pooling (in_features = vocabulary size)."""
    return TransformerClassifier(in_features, out_features, **params)
