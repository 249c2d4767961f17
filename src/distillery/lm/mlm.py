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
from torch.utils.data import Dataset

from ..errors import DistilleryError


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
