"""A small BERT-style transformer student built from a config (random initialisation), and the helpers every
transformers text encoder shares: mean pooling and :func:`encoder_features` (the optional, requested Features are
in :mod:`.requestable`)."""
from __future__ import annotations

import torch

from ..features import Features
from .base import Network
from .registry import register_model
from .requestable import QKVLayer, RequestableFeatures, capture_qkv, qkv_features


class SmallTransformer(RequestableFeatures, Network):
    """``transformers.BertModel`` from a :class:`BertConfig`; mean-pooled embedding; hidden states, and on request
    per-layer q/k/v and attention maps."""

    modality = "text"

    def __init__(self, num_classes: int, vocab_size: int, hidden_size: int = 256, num_layers: int = 4,
                 num_heads: int = 4, intermediate_size: int | None = None, max_position_embeddings: int = 512,
                 dropout: float = 0.1, attn_implementation: str = "sdpa", pad_token_id: int = 0):
        super().__init__()
        from transformers import BertConfig, BertModel

        cfg = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=num_heads, intermediate_size=intermediate_size or 4 * hidden_size,
                         max_position_embeddings=max_position_embeddings, hidden_dropout_prob=dropout,
                         attention_probs_dropout_prob=dropout, pad_token_id=pad_token_id)
        cfg._attn_implementation = attn_implementation
        self.encoder = BertModel(cfg, add_pooling_layer=False)
        self.max_positions = max_position_embeddings
        self.embed_dim = hidden_size
        self.head = torch.nn.Linear(hidden_size, num_classes)
        self.num_classes = num_classes

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        return encoder_features(self.encoder, inputs, self._qkv_layers)

    def adapt_state_dict(self, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A masked-LM pre-training run's student (``mlm:bert`` of the same sizes: ``model.bert.*``, its MLM head
        ``model.cls.*``) -> this encoder (``encoder.*``), the MLM head left behind: the pre-train-then-fine-tune
        route (Farhat & Chen 2024's baseline; Bui et al. 2024's MLM pre-training). A ``transformers``
        ``BertModel``/``BertForMaskedLM`` state dict (``bert.*`` or bare ``embeddings.*``/``encoder.*``) maps the
        same way; anything else is returned as it is."""
        for prefix in ("model.bert.", "bert."):
            if any(k.startswith(prefix) for k in sd):
                return {"encoder." + k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)
                        and not k.startswith(prefix + "pooler.")}
        if any(k.startswith("embeddings.") for k in sd) and not any(k.startswith("encoder.embeddings.") for k in sd):
            return {"encoder." + k: v for k, v in sd.items() if not k.startswith(("pooler.", "cls."))}
        return sd


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over non-padding tokens (sentence-transformers pooling)."""
    if mask is None:
        return hidden.mean(dim=1)
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)


def encoder_features(encoder: torch.nn.Module, inputs: dict[str, torch.Tensor],
                     qkv_layers: list[QKVLayer] | None = None) -> Features:
    """Run a transformers text encoder; mean-pooled embedding, hidden states, (eager) attentions and, when
    ``qkv_layers`` is given, the per-layer query/key/value projections."""
    kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    want_attn = getattr(encoder.config, "_attn_implementation", "sdpa") == "eager"
    with capture_qkv(qkv_layers) as store:
        out = encoder(**kwargs, output_hidden_states=True, output_attentions=want_attn, return_dict=True)
    emb = mean_pool(out.last_hidden_state, inputs.get("attention_mask"))
    return Features(embedding=emb, hidden_states=tuple(out.hidden_states),
                    attentions=tuple(out.attentions) if want_attn and out.attentions is not None else None,
                    qkv=qkv_features(store, qkv_layers))


register_model("transformer")(SmallTransformer)
