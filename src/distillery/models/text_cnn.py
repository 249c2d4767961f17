"""A convolutional text classifier (Kim 2014), a small student for text tasks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..features import Features
from .base import Network
from .registry import register_model


class TextCNN(Network):
    """Token embedding -> parallel 1-D convolutions (several widths) -> masked max-over-time -> linear head."""

    modality = "text"

    def __init__(self, num_classes: int, vocab_size: int, embed_dim: int = 128, num_filters: int = 256,
                 kernel_sizes: tuple[int, ...] | list[int] = (3, 4, 5), dropout: float = 0.5, pad_token_id: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_token_id)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k, padding=k // 2) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.embed_dim = num_filters * len(kernel_sizes)
        self.head = nn.Linear(self.embed_dim, num_classes)
        self.num_classes = num_classes
        self.vocab_size = vocab_size

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        x = self.embedding(ids).transpose(1, 2)  # [B, E, L]
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))[..., : ids.shape[1]]
            if mask is not None:
                h = h.masked_fill(~mask.bool().unsqueeze(1), float("-inf"))
            pooled.append(h.amax(dim=-1).clamp_min(0.0))
        emb = self.dropout(torch.cat(pooled, dim=1))
        return Features(embedding=emb)


register_model("text_cnn")(TextCNN)
