"""Vocabulary checks for token-level distillation (the LM networks themselves are in :mod:`distillery.models`)."""
from __future__ import annotations

from torch import nn

from ..errors import DistilleryError


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
