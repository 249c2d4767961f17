"""Which columns of a table hold the text and the label, when the config does not say: a conventional name
(``text``, ``sentence``, ``utterance``...; ``label``, ``category``, ``intent``...), else the only column that can
be it. Ambiguity is an error naming the candidates, never a guess."""
from __future__ import annotations

from typing import Any

LABEL_NAMES = ("label", "labels", "category", "intent", "class", "target", "y")
TEXT_NAMES = ("text", "sentence", "utterance", "query", "question", "review", "content", "document", "comment",
              "input", "prompt")


def _is_texty(values: list[Any]) -> bool:
    """Strings with some spaces in them: free text, not class names."""
    strings = [v for v in values if isinstance(v, str)]
    if not strings or len(strings) < 0.9 * len(values):
        return False
    return sum(" " in s.strip() for s in strings) >= 0.5 * len(strings)


def infer_label_column(sample: dict[str, list[Any]], exclude: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
    """The label column: a conventional name, else the one non-text column with few distinct values (at most
    half the rows); None when none or several qualify."""
    cols = [c for c in sample if c not in exclude]
    for name in LABEL_NAMES:
        for c in cols:
            if c.lower() == name:
                return c
    cands = [c for c in cols if not _is_texty(sample[c])
             and len({str(v) for v in sample[c]}) <= max(2, len(sample[c]) // 2)]
    return cands[0] if len(cands) == 1 else None


def infer_text_column(sample: dict[str, list[Any]], label: str | None) -> str | None:
    """The text column: a conventional name, else the one other column of free text; None when none or several."""
    cols = [c for c in sample if c != label]
    for name in TEXT_NAMES:
        for c in cols:
            if c.lower() == name:
                return c
    cands = [c for c in cols if _is_texty(sample[c])]
    return cands[0] if len(cands) == 1 else None
