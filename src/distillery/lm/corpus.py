"""A raw text corpus as fixed-length token blocks for causal language modelling."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import DataConfig
from ..errors import DistilleryError


def read_corpus(cfg: DataConfig) -> list[str]:
    """Documents from a .txt file, a folder of .txt files (recursively, sorted), or any source ``datasets`` reads
    (Hub id, CSV/JSON/parquet) with ``data.text_column``."""
    src = Path(cfg.source).expanduser()
    if src.is_file() and src.suffix.lower() == ".txt":
        docs = [src.read_text(encoding="utf-8", errors="replace")]
    elif src.is_dir() and any(src.rglob("*.txt")):
        docs = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(src.rglob("*.txt"))]
    else:
        from ..data.sources import hf_dataset

        ds = hf_dataset(cfg)["train"]
        if cfg.text_column not in ds.column_names:
            raise DistilleryError(f"data.source {cfg.source}: no text column {cfg.text_column!r} (columns: "
                                  f"{', '.join(ds.column_names)}); set data.text_column")
        docs = [str(t) for t in ds[cfg.text_column]]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise DistilleryError(f"data.source {cfg.source}: the corpus is empty")
    return docs


def token_blocks(docs: list[str], tokenizer, block: int, max_tokens: int | None = None) -> torch.Tensor:
    """``[N, block + 1]`` token ids: the documents' lines tokenised, each document ended by the EOS (or SEP)
    token, concatenated and cut into non-overlapping blocks (the tail dropped). ``max_tokens`` keeps only the first
    tokens of the stream (a unique-token budget: training longer then repeats data)."""
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    stream: list[int] = []
    for doc in docs:
        lines = [ln for ln in doc.splitlines() if ln.strip()]
        for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            if max_tokens is not None and len(stream) >= max_tokens:
                break
        if eos is not None:
            stream.append(eos)
        if max_tokens is not None and len(stream) >= max_tokens:
            stream = stream[:max_tokens]
            break
    n = len(stream) // (block + 1)
    if n < 2:
        raise DistilleryError(f"data: the corpus gives {len(stream)} tokens, fewer than two blocks of "
                              f"data.max_length + 1 = {block + 1}")
    return torch.tensor(stream[: n * (block + 1)], dtype=torch.long).view(n, block + 1)


def split_blocks(blocks: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded train / validation split of the blocks (at least one block each)."""
    perm = np.random.default_rng(seed).permutation(len(blocks))
    k = min(len(blocks) - 1, max(1, int(round(len(blocks) * val_fraction))))
    return blocks[torch.from_numpy(np.sort(perm[k:]))], blocks[torch.from_numpy(np.sort(perm[:k]))]


class BlockDataset(Dataset):
    """Block i: inputs ``ids[:-1]`` (student and teacher), labels ``ids[1:]`` (the next tokens)."""

    def __init__(self, blocks: torch.Tensor):
        self.blocks = blocks

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"ids": self.blocks[i], "index": i}


def collate_blocks(items: list[dict[str, Any]]) -> dict[str, Any]:
    ids = torch.stack([it["ids"] for it in items])
    inputs = {"input_ids": ids[:, :-1]}
    return {"student": inputs, "teacher": inputs, "label": ids[:, 1:], "index": torch.tensor([it["index"]
                                                                                         for it in items])}
