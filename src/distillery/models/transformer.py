"""A small BERT-style transformer student built from a config (random initialisation), and the helpers every
transformers-based adapter shares: mean pooling, :func:`encoder_features` and the optional, requested Features
(per-layer query/key/value, eager attention maps)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import ON_REQUEST, Features
from .base import Network
from .registry import register_model

# Attribute names of the self-attention query/key/value projections: BERT/RoBERTa/ELECTRA/ViT/MiniLM (query, key,
# value), DistilBERT (q_lin, k_lin, v_lin), BART/LLaMA-style (q_proj, k_proj, v_proj), MPNet (q, k, v).
_QKV_NAMES = (("query", "key", "value"), ("q_lin", "k_lin", "v_lin"), ("q_proj", "k_proj", "v_proj"), ("q", "k", "v"))
_HEAD_ATTRS = ("num_attention_heads", "n_heads", "num_heads", "n_head")


@dataclass
class QKVLayer:
    """The query/key/value projections of one self-attention layer and their head width."""

    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    head_dim: int


def find_qkv_layers(encoder: nn.Module) -> list[QKVLayer]:
    """The self-attention q/k/v ``nn.Linear`` projections of a transformers encoder, in layer order."""
    cfg = getattr(encoder, "config", None)
    layers = []
    for module in encoder.modules():
        for names in _QKV_NAMES:
            q, k, v = (getattr(module, n, None) for n in names)
            if all(isinstance(x, nn.Linear) for x in (q, k, v)):
                heads = next((getattr(module, a) for a in _HEAD_ATTRS if isinstance(getattr(module, a, None), int)),
                             None) or next((getattr(cfg, a) for a in _HEAD_ATTRS
                                            if isinstance(getattr(cfg, a, None), int)), None)
                if heads and q.out_features % heads == 0:
                    layers.append(QKVLayer(q, k, v, q.out_features // heads))
                break
    return layers


@contextmanager
def capture_qkv(layers: list[QKVLayer] | None) -> Iterator[dict[tuple[int, int], torch.Tensor]]:
    """Forward hooks on the q/k/v projections for the duration of one forward pass (nothing when ``layers`` is
    empty); the outputs land in the yielded dict under ``(layer, 0|1|2)``."""
    store: dict[tuple[int, int], torch.Tensor] = {}
    handles = []
    for i, layer in enumerate(layers or ()):
        for j, lin in enumerate((layer.q, layer.k, layer.v)):
            handles.append(lin.register_forward_hook(lambda _m, _x, out, key=(i, j): store.__setitem__(key, out)))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def _split_heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    """``[B, L, heads*d]`` -> ``[B, heads, L, d]``."""
    b, seq, width = x.shape
    return x.view(b, seq, width // head_dim, head_dim).transpose(1, 2)


def qkv_features(store: dict[tuple[int, int], torch.Tensor], layers: list[QKVLayer] | None):
    """The captured projections as ``Features.qkv`` (None when nothing was requested or captured)."""
    if not layers or len(store) != 3 * len(layers):
        return None
    return tuple(tuple(_split_heads(store[(i, j)], layer.head_dim) for j in range(3))
                 for i, layer in enumerate(layers))


class RequestableFeatures:
    """Mixin for networks wrapping a transformers model at ``self.encoder``: :meth:`request_features` switches on
    the costlier Features (``qkv`` hooks, eager ``attentions``) that a loss term declares; off by default."""

    encoder: nn.Module
    requested: frozenset[str] = frozenset()
    _qkv_layers: list[QKVLayer] | None = None
    _attn_restore: str | None = None

    def _spec(self) -> str:
        return getattr(self, "source", None) or type(self).__name__

    def request_features(self, names: set[str] | frozenset[str]) -> None:
        """Provide exactly the optional Features in ``names`` from now on (``set()`` switches them off again)."""
        if "qkv" in names:
            layers = find_qkv_layers(self.encoder)
            if not layers:
                raise DistilleryError(f"{self._spec()}: a loss term needs per-layer query/key/value (qkv), but this "
                                      "model has no self-attention query/key/value Linear projections that distillery "
                                      "recognises (BERT-like, DistilBERT, MPNet, q_proj/k_proj/v_proj)")
            self._qkv_layers = layers
        else:
            self._qkv_layers = None
        config = self.encoder.config
        current = getattr(config, "_attn_implementation", None)
        if "attentions" in names and current != "eager":
            _set_attn(self.encoder, "eager")
            if getattr(config, "_attn_implementation", None) != "eager":
                raise DistilleryError(f"{self._spec()}: a loss term needs attention maps, which need eager attention; "
                                      "set attn_implementation: eager in teacher.kwargs / student.kwargs")
            self._attn_restore = current
        elif "attentions" not in names and self._attn_restore is not None:
            _set_attn(self.encoder, self._attn_restore)
            self._attn_restore = None
        self.requested = frozenset(names) & ON_REQUEST


def _set_attn(model: nn.Module, impl: str) -> None:
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None:
        try:
            setter(impl)
            return
        except (ValueError, ImportError):
            pass
    model.config._attn_implementation = impl


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
