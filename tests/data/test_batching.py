"""Text batches: right padding and the attention mask, as the student and teacher read them."""
from __future__ import annotations

import torch

from distillery.data.batching import TextCollator


def _item(ids, label, index, teacher=None):
    return {"student": ids, "teacher": teacher, "label": torch.tensor(label), "index": index}


def test_text_batches_are_right_padded_with_a_mask_of_the_real_tokens():
    batch = TextCollator(student_pad=0)([_item([5, 6, 7], 1, 4), _item([8], 2, 0), _item([9, 10], 0, 7)])
    assert torch.equal(batch["student"]["input_ids"], torch.tensor([[5, 6, 7], [8, 0, 0], [9, 10, 0]]))
    assert torch.equal(batch["student"]["attention_mask"], torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]]))
    assert batch["student"]["input_ids"].dtype == batch["student"]["attention_mask"].dtype == torch.long
    assert batch["teacher"] is batch["student"]  # one tokenisation: the same tensors
    assert batch["label"].tolist() == [1, 2, 0] and batch["index"].tolist() == [4, 0, 7]


def test_a_separate_teacher_tokenisation_is_padded_with_its_own_pad_id():
    batch = TextCollator(student_pad=0, teacher_pad=3)([_item([5], 0, 0, teacher=[1, 2]),
                                                         _item([6, 7], 1, 1, teacher=[4])])
    assert torch.equal(batch["student"]["input_ids"], torch.tensor([[5, 0], [6, 7]]))
    assert torch.equal(batch["teacher"]["input_ids"], torch.tensor([[1, 2], [4, 3]]))
    assert torch.equal(batch["teacher"]["attention_mask"], torch.tensor([[1, 1], [1, 0]]))


def test_every_length_up_to_the_longest_round_trips_through_the_mask():
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(1, 100, (int(n),), generator=g).tolist() for n in torch.randint(1, 30, (64,), generator=g)]
    batch = TextCollator(student_pad=0)([_item(s, 0, i) for i, s in enumerate(seqs)])["student"]
    assert batch["input_ids"].shape == (64, max(len(s) for s in seqs))
    assert [row[m.bool()].tolist() for row, m in zip(batch["input_ids"], batch["attention_mask"], strict=True)] == seqs
