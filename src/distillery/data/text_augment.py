"""EDA-style token edits to enlarge an unlabelled transfer set (Wei & Zou 2019, "EDA: Easy Data Augmentation").

EDA's four operations are synonym replacement, random insertion, random swap and random deletion. No thesaurus is
available offline, so insertion and replacement draw words from the vocabulary of the texts being augmented. That
is sound for a transfer set: an edited text need not keep its label, because the teacher supplies its targets.
With ``data.text_augment.labelled`` the copies keep their source's label, as in EDA itself (small edits rarely
change an intent): the training set a scratch baseline needs to get every advantage the distilled arm gets.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _edit(words: list[str], op: str, n: int, vocab: list[str], rng: np.random.Generator) -> list[str]:
    w = list(words)
    for _ in range(n):
        if op == "swap" and len(w) >= 2:
            i, j = rng.choice(len(w), size=2, replace=False)
            w[i], w[j] = w[j], w[i]
        elif op == "delete" and len(w) >= 2:
            del w[int(rng.integers(len(w)))]
        elif op == "insert":
            w.insert(int(rng.integers(len(w) + 1)), vocab[int(rng.integers(len(vocab)))])
        elif op == "replace" and w:
            w[int(rng.integers(len(w)))] = vocab[int(rng.integers(len(vocab)))]
    return w


def eda(texts: Sequence[Any], copies: int, alpha: float, ops: Sequence[str], seed: int) -> list[Any]:
    """``copies`` edited versions of every text (pairs ``(a, b)`` are edited element-wise with one op), in order
    copy 0 of every text, then copy 1, ...; each edits ``max(1, round(alpha * words))`` words. Seeded: the same
    arguments give the same texts."""
    def parts(t: Any) -> tuple[str, ...]:
        return t if isinstance(t, tuple) else (t,)

    vocab = sorted({w for t in texts for p in parts(t) for w in p.split()})
    if not vocab:
        return []
    rng = np.random.default_rng(seed)
    out: list[Any] = []
    for _ in range(copies):
        for t in texts:
            op = ops[int(rng.integers(len(ops)))]
            edited = []
            for p in parts(t):
                words = p.split()
                edited.append(" ".join(_edit(words, op, max(1, round(alpha * len(words))), vocab, rng)))
            out.append(tuple(edited) if isinstance(t, tuple) else edited[0])
    return out
