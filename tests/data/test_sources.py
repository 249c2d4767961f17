import csv

import numpy as np
import pytest
import torch

from distillery.config import DataConfig
from distillery.data import load_task_data
from distillery.data.batching import ImageDataset, augment_batch, collate_images, view_params
from distillery.errors import DistilleryError


def test_csv_folder_splits_and_labels(text_data_dir):
    d = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", val_fraction=0.25), seed=1)
    assert d.modality == "text" and d.class_names == ["balance", "card", "flight", "weather"]
    assert len(d.train) == 120 and len(d.val) == 40 and len(d.test) == 48
    assert isinstance(d.train.inputs[0], str)
    # the carved validation split is seeded
    d2 = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", val_fraction=0.25), seed=1)
    assert d.val.inputs == d2.val.inputs
    d3 = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", val_fraction=0.25), seed=2)
    assert d.val.inputs != d3.val.inputs


def test_few_shot_is_seeded_and_per_class(text_data_dir):
    cfg = DataConfig(source=str(text_data_dir), label_column="intent", shots_per_class=3)
    a, b = load_task_data(cfg, seed=0), load_task_data(cfg, seed=0)
    assert len(a.train) == 12 and torch.bincount(a.train.labels).tolist() == [3, 3, 3, 3]
    assert a.train.inputs == b.train.inputs
    assert load_task_data(cfg, seed=5).train.inputs != a.train.inputs


def test_single_tsv_file_carves_test(tmp_path):
    p = tmp_path / "all.tsv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["sentence", "label"])
        for i in range(50):
            w.writerow([f'he said "hi {i}', i % 2])
    d = load_task_data(DataConfig(source=str(p), text_column="sentence", val_fraction=0.0, test_fraction=0.2))
    assert len(d.test) == 10 and len(d.train) == 40 and d.class_names == ["0", "1"]
    assert any('"hi' in t for t in d.train.inputs + d.test.inputs)  # quotes kept (QUOTE_NONE)
    assert any("no test split" in n for n in d.notes)


def test_missing_label_column(text_data_dir):
    with pytest.raises(DistilleryError, match=r"no label column 'label'.*data.label_column"):
        load_task_data(DataConfig(source=str(text_data_dir), label_column="label"))  # given, so not inferred


def test_unset_columns_are_inferred_and_recorded(text_data_dir):
    cfg = DataConfig(source=str(text_data_dir))  # the data has text,intent: 'label' is not there
    d = load_task_data(cfg)
    assert cfg.label_column == "intent" and cfg.text_column == "text" and d.num_classes == 4


def test_missing_text_column(text_data_dir):
    with pytest.raises(DistilleryError, match="no text column 'sentence'"):
        load_task_data(DataConfig(source=str(text_data_dir), label_column="intent", text_column="sentence"))


def test_empty_split(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,0\nb,1\n")
    (tmp_path / "test.csv").write_text("text,label\n")
    with pytest.raises(DistilleryError, match="(empty|could not be read)"):
        load_task_data(DataConfig(source=str(tmp_path), val_fraction=0.0))


def test_npz_images(image_npz):
    d = load_task_data(DataConfig(source=str(image_npz), val_fraction=0.25))
    assert d.modality == "image" and d.class_names == ["a", "b", "c", "d"]
    assert d.train.inputs.dtype == torch.uint8 and tuple(d.train.inputs.shape[1:]) == (3, 16, 16)
    assert len(d.train) == 72 and len(d.val) == 24 and len(d.test) == 32


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / split / c / f"{i}.png")
    d = load_task_data(DataConfig(source=str(tmp_path), val_fraction=0.0))
    assert d.modality == "image" and d.class_names == ["cat", "dog"]
    assert len(d.train) == 12 and len(d.test) == 4 and tuple(d.train.inputs.shape[1:]) == (3, 8, 8)


def test_augmentation_replays_from_seed(image_npz):
    d = load_task_data(DataConfig(source=str(image_npz), val_fraction=0.0))
    ds = ImageDataset(d.train, augment=True, seed=3)
    ds.set_epoch(2)
    a = ds[5]["pixel_values"]
    ds.set_epoch(0)
    assert not torch.equal(ds[5]["pixel_values"], a) or not torch.equal(ds[6]["pixel_values"], ds[6]["pixel_values"])
    ds.set_epoch(2)
    assert torch.equal(ds[5]["pixel_values"], a)
    replay = augment_batch(d.train.inputs[5:6], [view_params(3, 2, 5, tuple(d.train.inputs.shape[-2:]))])[0]
    assert torch.equal(replay, a)
    batch = collate_images(ds.__getitems__([5, 0, 7]))  # the batched fetch: the same views as one by one
    one_by_one = collate_images([ds[i] for i in (5, 0, 7)])
    for k in ("label", "index", "view"):
        assert torch.equal(batch[k], one_by_one[k])
    assert torch.equal(batch["student"]["pixel_values"], one_by_one["student"]["pixel_values"])
    views = {ImageDataset(d.train, augment=True, seed=3).__getitem__(5)["pixel_values"].sum().item()}
    for e in range(1, 8):
        ds.set_epoch(e)
        views.add(ds[5]["pixel_values"].sum().item())
    assert len(views) > 1  # views differ across epochs


def test_hub_id_offline_is_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DistilleryError, match=r"PolyAI/banking77: could not be read \(not a local path"):
        load_task_data(DataConfig(source="PolyAI/banking77"))


def test_text_pairs(tmp_path):
    (tmp_path / "train.csv").write_text("s1,s2,label\n" + "".join(f"a{i},b{i},{i % 2}\n" for i in range(20)))
    d = load_task_data(DataConfig(source=str(tmp_path), text_column="s1", text_pair_column="s2", val_fraction=0.0))
    assert isinstance(d.train.inputs[0], tuple) and len(d.train.inputs[0]) == 2


def test_max_samples_is_a_seeded_random_subset(tmp_path):
    # files sorted by label (Banking77's are): the first N rows would hold only the first classes
    for split, n in (("train", 400), ("test", 100)):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows([f"{split} text {i}", f"c{i * 10 // n}"] for i in range(n))
    cfg = DataConfig(source=str(tmp_path), val_fraction=0.1, max_samples=40)
    a, b, c = load_task_data(cfg, seed=0), load_task_data(cfg, seed=0), load_task_data(cfg, seed=1)
    assert (len(a.train), len(a.val), len(a.test)) == (40, 40, 40)
    assert len(set(a.train.labels.tolist())) >= 8 and len(set(a.test.labels.tolist())) >= 8  # not the first classes
    assert a.train.inputs == b.train.inputs and a.test.inputs == b.test.inputs  # seeded
    assert a.train.inputs != c.train.inputs
    assert a.train.inputs == sorted(a.train.inputs, key=lambda t: int(t.split()[-1]))  # original order kept
    assert not set(a.train.inputs) & set(a.val.inputs)
