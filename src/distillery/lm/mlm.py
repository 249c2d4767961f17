"""Masked language modelling (task ``mlm``): a BERT-style student pre-trained from scratch on a raw text corpus
(Devlin et al. 2019: 15 % of the tokens chosen, of which 80 % become [MASK], 10 % a random token, 10 % stay),
alone or distilled from a teacher that shares its tokenizer (Bui et al. 2024): ``kd`` (the teacher's MLM logits
at the masked positions; needs a teacher with an MLM head), ``tinybert`` (hidden states + attention scores) and
``minilm`` (Q-Q/K-K/V-V self-relations), at an equal compute budget (``train.budget``: FLOPs or wall time, the
teacher's forward passes included).
"""
from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..errors import DistilleryError
from ..features import Features
from ..models.transformer import RequestableFeatures, capture_qkv, qkv_features


class MaskedLM(RequestableFeatures, nn.Module):
    """A ``transformers`` BERT-style model; ``forward`` returns the MLM logits at the positions to predict
    (``inputs["predict"]``, a ``[B, L]`` mask: ``[N, vocab]`` rows in row-major order; all ``[B, L, vocab]``
    without it; None for an encoder without an MLM head), the hidden states and, on request, the per-layer q/k/v
    projections. The vocabulary projection runs on the predicted positions only: with a 30k vocabulary it would
    otherwise cost more than a small encoder itself."""

    modality = "text"

    def __init__(self, model: nn.Module, vocab: int, has_head: bool):
        super().__init__()
        self.model, self.vocab, self.has_head = model, vocab, has_head
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


def create_masked_lm(spec: str, vocab: int, max_length: int, **kwargs: Any) -> MaskedLM:
    """``hf:<dir or id>`` (pre-trained: with its MLM head when the checkpoint has one, else the bare encoder), or a
    randomly initialised ``mlm:bert`` from a ``BertConfig`` (kwargs: hidden_size, num_hidden_layers,
    num_attention_heads, intermediate_size, ...)."""
    import transformers as tf

    if spec.startswith("hf:"):
        from ..models.hf import resolve_hf_name

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
        cfg = tf.BertConfig(vocab_size=vocab, max_position_embeddings=max(512, max_length), **base)
        return MaskedLM(tf.BertForMaskedLM(cfg), vocab, has_head=True)
    raise DistilleryError(f"model {spec}: a masked LM is hf:<dir or id> or mlm:bert")


def _special_ids(tokenizer) -> tuple[int, int, int]:
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id)
    if any(i is None for i in ids):
        raise DistilleryError("data.task mlm needs a tokenizer with [CLS], [SEP] and [MASK] tokens (a BERT-style "
                              "WordPiece tokenizer); this one lacks "
                              + ", ".join(n for n, i in zip(("cls", "sep", "mask"), ids, strict=True) if i is None))
    return ids  # type: ignore[return-value]


class MaskedBlocks(Dataset):
    """Corpus blocks as ``[CLS] tokens [SEP]`` sequences with BERT masking: a fraction ``probability`` of the
    non-special positions is chosen (at least one), 80 % of those replaced by [MASK], 10 % by a random token,
    10 % left; labels are the original ids there and -1 elsewhere (no loss). The draw depends on (seed, epoch,
    block index) only, so a run is reproducible and a validation set (``set_epoch`` never called) is fixed."""

    def __init__(self, blocks: torch.Tensor, tokenizer, vocab: int, probability: float = 0.15, seed: int = 0):
        self.blocks, self.vocab, self.p, self.seed, self.epoch = blocks, vocab, probability, seed, 0
        self.cls, self.sep, self.mask = _special_ids(tokenizer)
        self.special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, Any]:
        key = hashlib.sha256(f"{self.seed}/{self.epoch}/{i}".encode()).digest()
        gen = torch.Generator().manual_seed(int.from_bytes(key[:8], "little"))
        ids = torch.cat([torch.tensor([self.cls]), self.blocks[i], torch.tensor([self.sep])])
        candidates = ~torch.isin(ids, self.special)
        chosen = (torch.rand(len(ids), generator=gen) < self.p) & candidates
        if not bool(chosen.any()) and bool(candidates.any()):
            pos = candidates.nonzero().flatten()
            chosen[pos[torch.randint(len(pos), (1,), generator=gen)]] = True
        labels = torch.where(chosen, ids, torch.full_like(ids, -1))
        r = torch.rand(len(ids), generator=gen)
        inputs = ids.clone()
        inputs[chosen & (r < 0.8)] = self.mask
        rand = chosen & (r >= 0.8) & (r < 0.9)
        inputs[rand] = torch.randint(self.vocab, (int(rand.sum()),), generator=gen)
        return {"input_ids": inputs, "label": labels, "index": i}


def collate_masked(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Inputs ``[B, L]`` with ``predict`` (the chosen positions); ``label``: the targets there, ``[N]`` in
    row-major order (the rows :class:`MaskedLM` returns), so every classification loss term applies per token."""
    ids = torch.stack([it["input_ids"] for it in items])
    labels = torch.stack([it["label"] for it in items])
    predict = labels >= 0
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "predict": predict}
    return {"student": inputs, "teacher": inputs, "label": labels[predict],
            "index": torch.tensor([it["index"] for it in items])}
