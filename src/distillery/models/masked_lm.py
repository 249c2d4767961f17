"""Masked LM networks (``data.task: mlm``, Bui et al. 2024) behind the common Features interface:
``create_model(spec, vocab, family="mlm", block=...)``."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from .base import Network
from .registry import register_family
from .requestable import RequestableFeatures, capture_qkv, qkv_features


class MaskedLM(RequestableFeatures, Network):
    """A ``transformers`` BERT-style model; ``forward`` returns the MLM logits at the positions to predict
    (``inputs["predict"]``, a ``[B, L]`` mask: ``[N, vocab]`` rows in row-major order; all ``[B, L, vocab]``
    without it; None for an encoder without an MLM head), the hidden states and, on request, the per-layer q/k/v
    projections. The vocabulary projection runs on the predicted positions only: with a 30k vocabulary it would
    otherwise cost more than a small encoder itself."""

    modality = "text"

    def __init__(self, model: nn.Module, vocab: int, has_head: bool):
        super().__init__()
        self.model, self.vocab, self.has_head, self.num_classes = model, vocab, has_head, vocab
        self.embed_dim = int(model.config.hidden_size)

    @property
    def encoder(self) -> nn.Module:  # what RequestableFeatures hooks
        return self.model

    def forward(self, inputs: dict[str, torch.Tensor]) -> Features:
        kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        where = inputs.get("predict")
        head = (getattr(self.model, "cls", None) or getattr(self.model, "lm_head", None)) if self.has_head else None
        with capture_qkv(self._qkv_layers) as store:
            if head is not None or not self.has_head:  # the encoder, then the head on the chosen rows only
                out = self.model.base_model(**kwargs, output_hidden_states=True, return_dict=True)
                h = out.last_hidden_state
                logits = head(h[where] if where is not None else h) if head is not None else None
            else:  # an MLM model of another layout: the whole vocabulary projection, then the chosen rows
                out = self.model(**kwargs, output_hidden_states=True, return_dict=True)
                logits = out.logits[where] if where is not None else out.logits
        return Features(logits=None if logits is None else logits[..., : self.vocab],
                        hidden_states=tuple(out.hidden_states), qkv=qkv_features(store, self._qkv_layers))

    def input_spec(self) -> dict[str, Any]:
        return {}

    def non_embedding_params(self) -> int:
        emb = {id(p) for m in self.model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
        head = self.model.get_output_embeddings() if self.has_head else None
        if head is not None:
            emb |= {id(p) for p in head.parameters()}
        return sum(p.numel() for p in self.model.parameters() if id(p) not in emb)


@register_family("mlm")
def create_masked_lm(spec: str, vocab: int, block: int, **kwargs: Any) -> MaskedLM:
    """``hf:<dir or id>`` (pre-trained: with its MLM head when the checkpoint has one, else the bare encoder), or a
    randomly initialised ``mlm:bert`` from a ``BertConfig`` (kwargs: hidden_size, num_hidden_layers,
    num_attention_heads, intermediate_size, ...)."""
    import transformers as tf

    if spec.startswith("hf:"):
        from .hf import resolve_hf_name

        name = resolve_hf_name(spec[3:])
        try:
            model, info = tf.AutoModelForMaskedLM.from_pretrained(name, output_loading_info=True, **kwargs)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DistilleryError(f"model {spec}: not a loadable masked language model ({first})") from None
        head = model.get_output_embeddings()
        head_ids = {n for n, p in model.named_parameters() if head is not None and
                    any(p is q for q in head.parameters())}
        missing = set(info.get("missing_keys") or ())
        if head is None or any(k in missing for k in head_ids) or any(".predictions." in k for k in missing):
            base = tf.AutoModel.from_pretrained(name, **kwargs)  # no trained MLM head: hidden states/relations only
            return MaskedLM(base, vocab, has_head=False)
        return MaskedLM(model, vocab, has_head=True)
    if spec == "mlm:bert":
        base = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512}
        base.update(kwargs)
        cfg = tf.BertConfig(vocab_size=vocab, max_position_embeddings=max(512, block), **base)
        return MaskedLM(tf.BertForMaskedLM(cfg), vocab, has_head=True)
    raise DistilleryError(f"model {spec}: a masked LM is hf:<dir or id> or mlm:bert")
