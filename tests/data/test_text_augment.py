"""EDA-style text augmentation of the transfer set, and transfer sets read from a path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from distillery.config import DataConfig, build_config
from distillery.data import load_task_data
from distillery.data.text_augment import eda
from distillery.errors import DistilleryError

TEXTS = ["how do i block my lost card", "what is my balance today please", "flight ticket to the airport"]


@pytest.mark.parametrize("op", ["swap", "delete", "insert", "replace"])
def test_each_operation(op):
    out = eda(TEXTS, copies=3, alpha=0.2, ops=[op], seed=0)
    assert len(out) == 9 and out == eda(TEXTS, copies=3, alpha=0.2, ops=[op], seed=0)
    assert out != eda(TEXTS, copies=3, alpha=0.2, ops=[op], seed=1)
    vocab = {w for t in TEXTS for w in t.split()}
    for i, t in enumerate(out):
        src, words = TEXTS[i % 3].split(), t.split()
        n = max(1, round(0.2 * len(src)))
        assert set(words) <= vocab
        if op == "swap":
            assert sorted(words) == sorted(src)
        elif op == "delete":
            assert len(words) == len(src) - n and all(w in src for w in words)
        elif op == "insert":
            assert len(words) == len(src) + n
        else:
            assert len(words) == len(src) and sum(a != b for a, b in zip(words, src, strict=True)) <= n
    assert any(t != TEXTS[i % 3] for i, t in enumerate(out))


def test_pairs_are_edited_element_wise():
    pairs = [("the cat sat on the mat", "a dog ran"), ("one two three", "four five six seven")]
    out = eda(pairs, copies=2, alpha=0.3, ops=["swap"], seed=0)
    assert all(isinstance(p, tuple) and len(p) == 2 for p in out)
    assert all(sorted(p[j].split()) == sorted(pairs[i % 2][j].split()) for i, p in enumerate(out) for j in (0, 1))


def test_text_augment_enlarges_the_transfer_set(text_data_dir):
    base = DataConfig(source=str(text_data_dir), label_column="intent", shots_per_class=3, transfer="rest")
    data = load_task_data(base, seed=0)
    aug = load_task_data(DataConfig(**{**base.model_dump(), "text_augment": {"copies": 2}}), seed=0)
    n = len(data.train) + len(data.transfer)
    assert len(aug.transfer) == len(data.transfer) + 2 * n and (aug.transfer.labels == -1).all()
    assert aug.transfer.inputs[:len(data.transfer)] == data.transfer.inputs
    full = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent",
                                     text_augment={"copies": 1}), seed=0)
    assert len(full.transfer) == len(full.train)  # no few-shot split: the labelled texts are edited


def test_labelled_copies_join_the_training_split_with_their_labels(text_data_dir):
    """``labelled``: the fair scratch baseline. Each edited copy of a training text is a training example with that
    text's label (cross-entropy sees it); copies of unlabelled transfer texts stay in the transfer set; the texts
    are the very ones the unlabelled variant makes; validation and test are untouched."""
    base = DataConfig(source=str(text_data_dir), label_column="intent", shots_per_class=3, transfer="rest")
    data = load_task_data(base, seed=0)
    plain = load_task_data(DataConfig(**{**base.model_dump(), "text_augment": {"copies": 2}}), seed=0)
    lab = load_task_data(DataConfig(**{**base.model_dump(), "text_augment": {"copies": 2, "labelled": True}}), seed=0)
    n, r = len(data.train), len(data.transfer)
    assert len(lab.train) == 3 * n and lab.train.inputs[:n] == data.train.inputs
    assert torch.equal(lab.train.labels, data.train.labels.repeat(3))
    copies = [t for c in range(2) for t in plain.transfer.inputs[r + c * (n + r):r + c * (n + r) + n]]
    assert lab.train.inputs[n:] == copies and lab.train.inputs[n:] != data.train.inputs * 2  # edited
    assert len(lab.transfer) == r + 2 * r and (lab.transfer.labels == -1).all()
    assert lab.val.inputs == data.val.inputs and lab.test.inputs == data.test.inputs
    full = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent",
                                     text_augment={"copies": 1, "labelled": True}), seed=0)
    assert full.transfer is None and len(full.train) == 2 * len(load_task_data(
        DataConfig(source=str(text_data_dir), label_column="intent"), seed=0).train)


def test_transfer_from_a_path(text_data_dir, image_npz, tmp_path):
    txt = tmp_path / "extra.txt"
    txt.write_text("block my card\n\nwhat is the forecast\n")
    data = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", transfer=str(txt)))
    assert data.transfer.inputs == ["block my card", "what is the forecast"] and (data.transfer.labels == -1).all()
    csvf = tmp_path / "extra.csv"
    csvf.write_text("text,other\nlost card,1\nrain today,2\n")
    data = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", transfer=str(csvf)))
    assert data.transfer.inputs == ["lost card", "rain today"]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    data = load_task_data(DataConfig(source=str(image_npz), transfer=str(folder)))
    assert data.transfer.inputs.shape == (3, 3, 16, 16) and data.transfer.inputs.dtype == torch.uint8
    data = load_task_data(DataConfig(source=str(image_npz), transfer=str(image_npz)))
    assert len(data.transfer) == 96 + 32  # every split of the npz, labels dropped
    assert len(data.student_train) == len(data.train) + 128


def test_bad_augmentation_and_transfer_inputs(text_data_dir, image_npz, tmp_path, make_text_config):
    with pytest.raises(DistilleryError, match="text_augment edits texts"):
        load_task_data(DataConfig(source=str(image_npz), text_augment={"copies": 1}))
    with pytest.raises(DistilleryError, match="this task is text"):
        load_task_data(DataConfig(source=str(text_data_dir), label_column="intent",
                                  synthetic={"path": str(tmp_path)}))
    csvf = tmp_path / "x.csv"
    csvf.write_text("sentence\nhello\n")
    with pytest.raises(DistilleryError, match="no text column 'text'"):
        load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", transfer=str(csvf)))
    raw = make_text_config("x", data__transfer=str(tmp_path / "missing.txt"))
    with pytest.raises(DistilleryError, match="data.transfer: file or folder not found"):
        build_config(raw)
    syn = tmp_path / "syn" / "zebra"
    syn.mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(syn / "0.png")
    (tmp_path / "syn" / "a").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "syn" / "a" / "0.png")
    with pytest.raises(DistilleryError, match="folder 'zebra' is not a class of the task"):
        load_task_data(DataConfig(source=str(image_npz), synthetic={"path": str(tmp_path / "syn")}))
