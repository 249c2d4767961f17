"""Causal LM networks (``data.task: clm``) behind the common :class:`~distillery.features.Features` interface:
``create_model(spec, vocab, family="clm", block=...)``."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from .base import Network
from .registry import register_family


class CausalLM(Network):
    """A ``transformers`` causal LM; ``forward`` returns next-token logits ``[B, L, vocab]`` (position i predicts
    token i + 1), cut to the tokenizer's ``vocab`` entries when the embedding matrix has padded rows."""

    modality = "text"

    def __init__(self, model: nn.Module, vocab: int):
        super().__init__()
        self.model, self.vocab, self.num_classes = model, vocab, vocab
        self.embed_dim = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "n_embd", 0))

    def forward(self, inputs: dict[str, torch.Tensor]) -> Features:
        out = self.model(input_ids=inputs["input_ids"], use_cache=False)
        return Features(logits=out.logits[..., : self.vocab])

    def input_spec(self) -> dict[str, Any]:
        return {}

    def non_embedding_params(self) -> int:
        emb = {id(p) for m in self.model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
        head = self.model.get_output_embeddings()
        if head is not None:
            emb |= {id(p) for p in head.parameters()}
        return sum(p.numel() for p in self.model.parameters() if id(p) not in emb)


@register_family("clm")
def create_causal_lm(spec: str, vocab: int, block: int, **kwargs: Any) -> CausalLM:
    """``hf:<dir or id>`` (AutoModelForCausalLM, pre-trained), or a randomly initialised ``clm:gpt2`` /
    ``clm:llama`` from a ``transformers`` config (kwargs: the config's fields, e.g. n_layer, n_embd, n_head for
    GPT-2; hidden_size, num_hidden_layers, num_attention_heads, intermediate_size for Llama)."""
    import transformers as tf

    if spec.startswith("hf:"):
        name = spec[3:]
        try:
            model = tf.AutoModelForCausalLM.from_pretrained(name, **kwargs)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DistilleryError(f"model {spec}: not a loadable causal language model ({first})") from None
        return CausalLM(model, vocab)
    if spec == "clm:gpt2":
        cfg = tf.GPT2Config(vocab_size=vocab, n_positions=block, **{"n_layer": 2, "n_embd": 64, "n_head": 2,
                                                                     **kwargs})
        return CausalLM(tf.GPT2LMHeadModel(cfg), vocab)
    if spec == "clm:llama":
        base = {"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 2,
                "num_key_value_heads": None}
        base.update(kwargs)
        if base["num_key_value_heads"] is None:
            base["num_key_value_heads"] = base["num_attention_heads"]
        cfg = tf.LlamaConfig(vocab_size=vocab, max_position_embeddings=block, **base)
        return CausalLM(tf.LlamaForCausalLM(cfg), vocab)
    raise DistilleryError(f"model {spec}: a causal LM is hf:<dir or id>, clm:gpt2 or clm:llama")
