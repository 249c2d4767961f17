"""Read a task dataset (Hub id, local files, image folder, .npz of encoded images) into train/val/test splits.

Hugging Face ``datasets`` reads everything it can (Hub ids, CSV/TSV/JSON/parquet, image folders); the
``.npz`` of JPEG bytes documented in ``shared/data/cifar10_jpeg`` is decoded with Pillow. Images are decoded once
into a uint8 ``[N, 3, H, W]`` tensor; text stays as strings until tokenised.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from ..errors import DistilleryError

_TABLE_EXT = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}


@dataclass
class Split:
    """One split: ``inputs`` is a list of strings (text), a list of (text, pair) tuples, or a uint8 image tensor."""

    inputs: Any
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray | list[int]) -> Split:
        idx = np.asarray(idx, dtype=np.int64)
        if isinstance(self.inputs, torch.Tensor):
            return Split(self.inputs[torch.from_numpy(idx)], self.labels[torch.from_numpy(idx)])
        return Split([self.inputs[i] for i in idx], self.labels[torch.from_numpy(idx)])

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if isinstance(self.inputs, torch.Tensor):
            h.update(self.inputs.contiguous().numpy().tobytes())
        else:
            for x in self.inputs:
                h.update(repr(x).encode())
        h.update(self.labels.numpy().tobytes())
        return h.hexdigest()[:16]


@dataclass
class TaskData:
    modality: str  # "text" | "image"
    class_names: list[str]
    train: Split
    val: Split | None
    test: Split
    notes: list[str] = field(default_factory=list)
    transfer: Split | None = None  # unlabelled inputs (labels -1): only the teacher-driven terms see them

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def student_train(self) -> Split:
        """What the student trains on: the labelled training split, then the transfer set (labels -1)."""
        if self.transfer is None:
            return self.train
        return concat(self.train, self.transfer)


def concat(a: Split, b: Split) -> Split:
    if isinstance(a.inputs, torch.Tensor):
        return Split(torch.cat([a.inputs, b.inputs]), torch.cat([a.labels, b.labels]))
    return Split(list(a.inputs) + list(b.inputs), torch.cat([a.labels, b.labels]))


def _err(cfg: DataConfig, msg: str) -> DistilleryError:
    return DistilleryError(f"data.source {cfg.source}: {msg}")


def _decode_images(blobs: list[bytes], size: int | None = None) -> torch.Tensor:
    from PIL import Image

    arrs = []
    for b in blobs:
        im = Image.open(io.BytesIO(b)).convert("RGB")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BICUBIC)
        arrs.append(np.asarray(im, dtype=np.uint8))
    if len({a.shape for a in arrs}) > 1:
        raise DistilleryError("images have different sizes; set data.image_size to resize them")
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def _load_npz(cfg: DataConfig) -> tuple[dict[str, Split], list[str]]:
    try:
        z = np.load(cfg.source, allow_pickle=False)
    except Exception as e:
        raise _err(cfg, f"not a readable .npz ({e})") from None
    splits: dict[str, Split] = {}
    for name in ("train", "validation", "val", "test"):
        if f"{name}_jpeg_bytes" in z:
            data, offs = z[f"{name}_jpeg_bytes"], z[f"{name}_jpeg_offsets"]
            blobs = [data[offs[i]:offs[i + 1]].tobytes() for i in range(len(offs) - 1)]
            images = _decode_images(blobs)
        elif f"{name}_images" in z:
            images = torch.from_numpy(z[f"{name}_images"]).permute(0, 3, 1, 2).contiguous()
        else:
            continue
        if f"{name}_labels" not in z:
            raise _err(cfg, f"missing the array {name}_labels")
        splits["validation" if name == "val" else name] = Split(images, torch.from_numpy(
            z[f"{name}_labels"].astype(np.int64)))
    if not splits:
        raise _err(cfg, "expected arrays <split>_jpeg_bytes/<split>_jpeg_offsets/<split>_labels or "
                   "<split>_images/<split>_labels")
    n = 1 + max(int(s.labels.max()) for s in splits.values() if len(s))
    names = [str(c) for c in z["classes"]] if "classes" in z else [str(i) for i in range(n)]
    return splits, names


def _hf_dataset(cfg: DataConfig):
    """A ``datasets.DatasetDict`` for a Hub id, a local folder or a single file."""
    import datasets

    src = Path(cfg.source).expanduser()
    kwargs: dict[str, Any] = {}
    try:
        if src.is_file():
            ext = src.suffix.lower()
            if ext not in _TABLE_EXT:
                raise _err(cfg, f"unsupported file type {ext!r} (csv, tsv, json, jsonl, parquet, npz)")
            if ext == ".tsv":
                kwargs = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
            return datasets.load_dataset(_TABLE_EXT[ext], data_files={"train": str(src)}, **kwargs)
        if src.is_dir():
            files = [p for p in sorted(src.iterdir()) if p.suffix.lower() in _TABLE_EXT and p.is_file()
                     and any(a in p.stem.lower() for aliases in _SPLIT_ALIASES.values() for a in aliases)]
            if files:
                data_files: dict[str, str] = {}
                for p in files:
                    for split, aliases in _SPLIT_ALIASES.items():
                        if any(a in p.stem.lower() for a in aliases) and split not in data_files:
                            data_files[split] = str(p)
                if "train" not in data_files:
                    raise _err(cfg, "no file named like train.* in the folder")
                exts = {_TABLE_EXT[Path(f).suffix.lower()] for f in data_files.values()}
                if len(exts) > 1:
                    raise _err(cfg, "the split files have different formats; use one format")
                if any(f.lower().endswith(".tsv") for f in data_files.values()):
                    kwargs = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
                return datasets.load_dataset(exts.pop(), data_files=data_files, **kwargs)
            return datasets.load_dataset("imagefolder", data_dir=str(src))
        return datasets.load_dataset(cfg.source)
    except DistilleryError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = "" if src.exists() else " (not a local path; the Hub may be unreachable)"
        raise _err(cfg, f"could not be read{where}: {first}") from None


def _from_hf(cfg: DataConfig) -> tuple[dict[str, Split], list[str], str]:
    ds = _hf_dataset(cfg)
    splits_raw: dict[str, Any] = {}
    for split, aliases in _SPLIT_ALIASES.items():
        wanted = {"train": cfg.train_split, "validation": cfg.val_split, "test": cfg.test_split}[split]
        for name in (wanted, *aliases):
            if name in ds:
                splits_raw[split] = ds[name]
                break
    if "train" not in splits_raw:
        raise _err(cfg, f"no split {cfg.train_split!r} (has: {', '.join(ds.keys())})")
    train = splits_raw["train"]
    cols = train.column_names
    label_col = cfg.label_column
    if label_col not in cols:
        raise _err(cfg, f"no label column {label_col!r} (columns: {', '.join(cols)}); set data.label_column")
    image_cols = [c for c in cols if c in ("image", "img", "pixel_values")]
    modality = cfg.task if cfg.task != "auto" else ("image" if image_cols else "text")
    if modality == "text":
        for c in (cfg.text_column, cfg.text_pair_column):
            if c is not None and c not in cols:
                raise _err(cfg, f"no text column {c!r} (columns: {', '.join(cols)}); set data.text_column")
    feat = train.features[label_col]
    if hasattr(feat, "names"):
        names = list(feat.names)
        to_id = None
    else:
        values = sorted({v for s in splits_raw.values() for v in s[label_col] if v is not None}, key=str)
        if all(isinstance(v, (int, np.integer)) for v in values) and values and min(values) >= 0:
            names = [str(i) for i in range(int(max(values)) + 1)]
            to_id = None
        else:
            names = [str(v) for v in values]
            to_id = {v: i for i, v in enumerate(values)}
    out: dict[str, Split] = {}
    for split, d in splits_raw.items():
        raw_labels = d[label_col]
        if any(v is None for v in raw_labels):
            if split == "test" and all(v is None for v in raw_labels):
                continue  # unlabelled test set (e.g. GLUE); a test split is carved from train instead
            raise _err(cfg, f"split {split!r} has rows without a label in column {label_col!r}")
        labels = torch.tensor([to_id[v] if to_id else int(v) for v in raw_labels], dtype=torch.long)
        if modality == "text":
            texts = [str(t) for t in d[cfg.text_column]]
            if cfg.text_pair_column:
                inputs: Any = list(zip(texts, [str(t) for t in d[cfg.text_pair_column]], strict=True))
            else:
                inputs = texts
        else:
            col = image_cols[0] if image_cols else cfg.text_column
            inputs = _images_from_column(d[col], cfg)
        out[split] = Split(inputs, labels)
    return out, names, modality


def _images_from_column(values: list[Any], cfg: DataConfig) -> torch.Tensor:
    from PIL import Image

    size = cfg.image_size
    arrs = []
    for im in values:
        if not isinstance(im, Image.Image):
            im = Image.fromarray(np.asarray(im, dtype=np.uint8))
        im = im.convert("RGB")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BICUBIC)
        arrs.append(np.asarray(im, dtype=np.uint8))
    if len({a.shape for a in arrs}) > 1:
        raise _err(cfg, "images have different sizes; set data.image_size to resize them")
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def _carve(split: Split, fraction: float, rng: np.random.Generator) -> tuple[Split, Split]:
    n = len(split)
    perm = rng.permutation(n)
    k = max(1, int(round(n * fraction)))
    return split.subset(np.sort(perm[k:])), split.subset(np.sort(perm[:k]))


def few_shot(split: Split, shots: int, num_classes: int, seed: int) -> tuple[Split, list[str], Split]:
    """Keep ``shots`` seeded examples per class (all of them where a class has fewer); also returns the rest."""
    rng = np.random.default_rng(seed)
    labels = split.labels.numpy()
    keep: list[int] = []
    short = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < shots:
            short.append(c)
        keep.extend(rng.permutation(idx)[:shots].tolist())
    notes = [f"{len(short)} classes have fewer than {shots} training examples"] if short else []
    kept = np.sort(np.array(keep, dtype=np.int64))
    rest = np.setdiff1d(np.arange(len(split)), kept)
    return split.subset(kept), notes, split.subset(rest)


def load_task_data(cfg: DataConfig, seed: int = 0) -> TaskData:
    """Read ``cfg.source`` into train / validation / test splits (validation and test carved when absent)."""
    if Path(cfg.source).suffix.lower() == ".npz":
        splits, names = _load_npz(cfg)
        modality = "image"
    else:
        splits, names, modality = _from_hf(cfg)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    train = splits["train"]
    test = splits.get("test")
    if test is None:
        train, test = _carve(train, cfg.test_fraction, rng)
        notes.append(f"no test split: carved {len(test)} examples ({cfg.test_fraction:.0%}) from train")
    val = splits.get("validation")
    if val is None and cfg.val_fraction > 0:
        train, val = _carve(train, cfg.val_fraction, rng)
    if cfg.max_samples:
        train, test = (s.subset(np.arange(min(len(s), cfg.max_samples))) for s in (train, test))
        val = val.subset(np.arange(min(len(val), cfg.max_samples))) if val is not None else None
    transfer = None
    if cfg.shots_per_class:
        train, more, rest = few_shot(train, cfg.shots_per_class, len(names), seed)
        notes += more
        if cfg.transfer == "rest":
            transfer = Split(rest.inputs, torch.full_like(rest.labels, -1))  # labels hidden
    if transfer is not None and len(transfer) == 0:
        transfer = None
        notes.append("data.transfer: rest is empty (every training example is labelled)")
    for name, s in (("train", train), ("validation", val), ("test", test)):
        if s is not None and len(s) == 0:
            raise _err(cfg, f"the {name} split is empty")
        if s is not None and len(s) and int(s.labels.max()) >= len(names):
            raise _err(cfg, f"the {name} split has label {int(s.labels.max())} but only {len(names)} classes")
    return TaskData(modality, names, train, val, test, notes, transfer)
