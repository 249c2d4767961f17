"""Causal LM networks behind the common :class:`~distillery.features.Features` interface."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import Features


class CausalLM(nn.Module):
    """A ``transformers`` causal LM; ``forward`` returns next-token logits ``[B, L, vocab]`` (position i predicts
    token i + 1), cut to the tokenizer's ``vocab`` entries when the embedding matrix has padded rows."""

    modality = "text"

    def __init__(self, model: nn.Module, vocab: int):
        super().__init__()
        self.model, self.vocab = model, vocab
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


def check_vocabularies(teacher: nn.Module, teacher_tok, student: nn.Module, student_tok) -> list[str]:
    """Token-level distillation compares distributions (and positions) over one vocabulary: refuse different
    tokenizers or an output layer smaller than the tokenizer; padded rows beyond it are ignored (with a note). A
    network without an output layer (an encoder without MLM head) has no rows to check."""
    tv, sv = teacher_tok.get_vocab(), student_tok.get_vocab()
    if tv != sv:
        diff = sorted(set(tv.items()) ^ set(sv.items()), key=lambda x: x[1])[:1]
        example = f" (e.g. token {diff[0][0]!r})" if diff else ""
        raise DistilleryError(f"vocabulary mismatch: the teacher's tokenizer has {len(tv)} tokens, the student's "
                              f"{len(sv)}, and they differ{example}; token-level distillation needs one vocabulary: "
                              "give the student the teacher's tokenizer (student.tokenizer)")
    notes = []
    n = len(tv)
    for who, net in (("teacher", teacher), ("student", student)):
        out = net.model.get_output_embeddings() if getattr(net, "has_head", True) else None
        if out is None:
            continue
        rows = out.weight.shape[0]
        if rows < n:
            raise DistilleryError(f"vocabulary mismatch: the {who}'s output layer has {rows} rows but the "
                                  f"tokenizer has {n} tokens")
        if rows > n:
            notes.append(f"the {who}'s output layer has {rows - n} padded rows beyond the tokenizer's {n} tokens; "
                         "they are ignored")
    return notes
