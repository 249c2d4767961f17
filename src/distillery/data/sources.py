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
    synthetic: Split | None = None  # labelled synthetic images, trained on like real ones (not by the teacher head)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def student_train(self) -> Split:
        """What the student trains on: the labelled training split, the synthetic images, then the transfer set
        (labels -1)."""
        return concat(self.train, *(s for s in (self.synthetic, self.transfer) if s is not None))


def concat(first: Split, *more: Split) -> Split:
    if not more:
        return first
    labels = torch.cat([first.labels, *(m.labels for m in more)])
    if isinstance(first.inputs, torch.Tensor):
        return Split(torch.cat([first.inputs, *(m.inputs for m in more)]), labels)
    return Split([x for s in (first, *more) for x in s.inputs], labels)


def _err(cfg: DataConfig, msg: str) -> DistilleryError:
    return DistilleryError(f"data.source {cfg.source}: {msg}")


def _open_image(source: Any, where: str):
    """A PIL image in RGB from bytes or a path; an unreadable one is one error line naming ``where``."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        return im.convert("RGB")
    except Exception as e:  # PIL raises many types for truncated or foreign files
        raise DistilleryError(f"{where}: not a readable image ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else ''}); remove or replace it") from None


def _decode_images(blobs: list[bytes], size: int | None = None, where: str = "image") -> torch.Tensor:
    from PIL import Image

    arrs = []
    for i, b in enumerate(blobs):
        im = _open_image(b, f"{where} {i}")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BICUBIC)
        arrs.append(np.asarray(im, dtype=np.uint8))
    if len({a.shape for a in arrs}) > 1:
        raise DistilleryError("images have different sizes; set data.image_size to resize them")
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def _load_npz(cfg: DataConfig) -> tuple[dict[str, Split], list[str]]:
    import zipfile

    if not zipfile.is_zipfile(cfg.source):
        raise _err(cfg, "not an .npz archive (a zip of .npy arrays): the file is corrupt or of another format")
    try:
        z = np.load(cfg.source, allow_pickle=False)
    except Exception as e:
        raise _err(cfg, f"not a readable .npz ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    splits: dict[str, Split] = {}
    for name in ("train", "validation", "val", "test"):
        try:
            labels = z[f"{name}_labels"] if f"{name}_labels" in z else None
            if f"{name}_jpeg_bytes" in z:
                data, offs = z[f"{name}_jpeg_bytes"], z[f"{name}_jpeg_offsets"] if f"{name}_jpeg_offsets" in z \
                    else None
                if offs is None:
                    raise _err(cfg, f"missing the array {name}_jpeg_offsets")
                _check_jpeg_arrays(cfg, name, data, offs, labels)
                blobs = [data[offs[i]:offs[i + 1]].tobytes() for i in range(len(offs) - 1)]
                images = _decode_images(blobs, where=f"{cfg.source}: {name} image")
            elif f"{name}_images" in z:
                arr = z[f"{name}_images"]
                if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or arr.dtype != np.uint8:
                    raise _err(cfg, f"{name}_images has shape {arr.shape} and dtype {arr.dtype}; expected uint8 "
                               "[N, height, width, 3] (or 1 channel)")
                if arr.shape[-1] == 1:
                    arr = np.repeat(arr, 3, axis=-1)
                images = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
            else:
                continue
        except DistilleryError:
            raise
        except Exception as e:  # a damaged member of the archive
            raise _err(cfg, f"the {name} arrays could not be read ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:160] if str(e) else ''})") from None
        if labels is None:
            raise _err(cfg, f"missing the array {name}_labels")
        if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
            raise _err(cfg, f"{name}_labels has shape {labels.shape} and dtype {labels.dtype}; expected one integer "
                       f"label per image ({len(images)})")
        if len(labels) and int(labels.min()) < 0:
            raise _err(cfg, f"{name}_labels holds negative labels; classes are numbered from 0")
        splits["validation" if name == "val" else name] = Split(images, torch.from_numpy(labels.astype(np.int64)))
    if not splits:
        raise _err(cfg, "expected arrays <split>_jpeg_bytes/<split>_jpeg_offsets/<split>_labels or "
                   "<split>_images/<split>_labels")
    n = 1 + max(int(s.labels.max()) for s in splits.values() if len(s))
    names = [str(c) for c in z["classes"]] if "classes" in z else [str(i) for i in range(n)]
    return splits, names


def _check_jpeg_arrays(cfg: DataConfig, name: str, data: np.ndarray, offs: np.ndarray,
                       labels: np.ndarray | None) -> None:
    """The encoded-JPEG layout: 1-D uint8 bytes, 1-D rising offsets within them, one label per image."""
    if data.ndim != 1 or data.dtype != np.uint8:
        raise _err(cfg, f"{name}_jpeg_bytes has shape {data.shape} and dtype {data.dtype}; expected 1-D uint8 bytes")
    if offs.ndim != 1 or len(offs) < 1 or not np.issubdtype(offs.dtype, np.integer):
        raise _err(cfg, f"{name}_jpeg_offsets has shape {offs.shape} and dtype {offs.dtype}; expected 1-D integer "
                   "offsets (N + 1 for N images)")
    if int(offs[0]) < 0 or int(offs[-1]) > len(data) or bool((np.diff(offs) <= 0).any()):
        raise _err(cfg, f"{name}_jpeg_offsets must rise from 0 to at most the {len(data)} bytes of "
                   f"{name}_jpeg_bytes")


def sniff_modality(source: str) -> str:
    """``image`` for a .npz or a local folder without table files (an image folder), else ``text``: a guess from
    the path alone, before the data is read."""
    p = Path(source).expanduser()
    if p.suffix.lower() == ".npz":
        return "image"
    if p.is_dir() and not any(f.suffix.lower() in _TABLE_EXT for f in p.iterdir() if f.is_file()):
        return "image"
    return "text"


def hf_dataset(cfg: DataConfig):
    """A ``datasets.DatasetDict`` for a Hub id, a local folder or a single file. datasets' own error log (a
    traceback on stderr) is silenced: a failure becomes one error line naming the file."""
    import logging

    log = logging.getLogger("datasets")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        return _load_hf_dataset(cfg)
    finally:
        log.setLevel(level)


def _load_hf_dataset(cfg: DataConfig):
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
        where = "" if src.exists() else " (not a local path; the Hub may be unreachable)"
        culprit = _failing_file(src, kwargs) if src.exists() else None
        if culprit is not None:
            raise _err(cfg, f"could not read {culprit[0]}: {culprit[1]}") from None
        raise _err(cfg, f"could not be read{where}: {_root_cause(e)}") from None


def _root_cause(e: BaseException) -> str:
    """The first line of the innermost cause (datasets wraps the parser's error in "An error occurred while
    generating the dataset")."""
    while (e.__cause__ or e.__context__) is not None:
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    text = str(e).strip()
    return (text.splitlines()[0][:200] if text else "") or type(e).__name__


def _failing_file(src: Path, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """The first table file of ``src`` (a file or a folder of split files) that cannot be read on its own, and why."""
    import datasets

    files = [src] if src.is_file() else [p for p in sorted(src.iterdir()) if p.suffix.lower() in _TABLE_EXT]
    for p in files:
        try:
            datasets.load_dataset(_TABLE_EXT[p.suffix.lower()], data_files={"train": str(p)}, **kwargs)
        except Exception as e:
            return str(p), _root_cause(e)
    return None


def _is_blank(t: Any) -> bool:
    return t is None or (isinstance(t, float) and t != t) or not str(t).strip()


def _nonempty_texts(cfg: DataConfig, split: str, columns: dict[str, list[Any]], notes: list[str]
                    ) -> tuple[list[int] | None, list[list[str]]]:
    """The texts of each column as strings. Rows whose text is empty, blank or missing are refused (naming the
    first rows), or dropped with a notice under ``data.drop_empty``; returns the kept row indices (None: all)."""
    columns = {c: list(v) for c, v in columns.items()}  # one read of each column (item access is per-row slow)
    n = len(next(iter(columns.values())))
    bad = sorted({i for vals in columns.values() for i, t in enumerate(vals) if _is_blank(t)})
    if bad and not cfg.drop_empty:
        first = ", ".join(str(i + 1) for i in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise _err(cfg, f"split {split!r}: {len(bad)} of {n} rows have an empty or missing text in column(s) "
                   f"{', '.join(columns)} (data rows {first}, counting from 1 after the header); fill or remove them, "
                   "or set data.drop_empty: true to drop them")
    keep = None
    if bad:
        drop = set(bad)
        keep = [i for i in range(n) if i not in drop]
        notes.append(f"data.drop_empty: dropped {len(bad)} {split} rows with an empty or missing text")
    rows = range(n) if keep is None else keep
    return keep, [[str(vals[i]) for i in rows] for vals in columns.values()]


def _image_column(d: Any, col: str, cfg: DataConfig, split: str) -> torch.Tensor:
    """Decode an image column; an unreadable file is named (datasets would fail on it without saying which)."""
    import datasets

    feat = d.features.get(col)
    if isinstance(feat, datasets.Image):
        raw = d.cast_column(col, datasets.Image(decode=False))[col]
        values = [_open_image(v.get("bytes") or v.get("path"), v.get("path") or f"{split} image {i}")
                  for i, v in enumerate(raw)]
        return _images_from_column(values, cfg)
    return _images_from_column(d[col], cfg)


def _infer_columns(cfg: DataConfig, train: Any, cols: list[str], modality: str, image_cols: list[str]) -> None:
    """Columns the config leaves at their default names that the data does not have are inferred (a conventional
    name, or the only column that fits) and written into ``cfg``, so the run's saved config names them."""
    from .columns import infer_label_column, infer_text_column

    given = cfg.model_fields_set
    sample = None
    if "label_column" not in given and cfg.label_column not in cols:
        sample = train.select(range(min(1000, len(train)))).to_dict()
        found = infer_label_column(sample, exclude=set(image_cols))
        if found is None:
            raise _err(cfg, f"cannot tell which column holds the labels (columns: {', '.join(cols)}); set "
                       "data.label_column")
        cfg.label_column = found
    if modality == "text" and "text_column" not in given and cfg.text_column not in cols:
        sample = sample or train.select(range(min(1000, len(train)))).to_dict()
        found = infer_text_column(sample, cfg.label_column)
        if found is None:
            others = [c for c in cols if c != cfg.label_column]
            raise _err(cfg, f"cannot tell which column holds the text (columns: {', '.join(others)}); set "
                       "data.text_column")
        cfg.text_column = found


def _from_hf(cfg: DataConfig) -> tuple[dict[str, Split], list[str], str, list[str]]:
    notes: list[str] = []
    ds = hf_dataset(cfg)
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
    image_cols = [c for c in cols if c in ("image", "img", "pixel_values")]
    modality = cfg.task if cfg.task != "auto" else ("image" if image_cols else "text")
    _infer_columns(cfg, train, cols, modality, image_cols)
    label_col = cfg.label_column
    if label_col not in cols:
        raise _err(cfg, f"no label column {label_col!r} (columns: {', '.join(cols)}); set data.label_column")
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
            columns = [c for c in (cfg.text_column, cfg.text_pair_column) if c]
            keep, texts_by_col = _nonempty_texts(cfg, split, {c: d[c] for c in columns}, notes)
            inputs: Any = (list(zip(*texts_by_col, strict=True)) if len(columns) > 1 else texts_by_col[0])
            if keep is not None:
                labels = labels[torch.as_tensor(keep, dtype=torch.long)]
        else:
            col = image_cols[0] if image_cols else cfg.text_column
            inputs = _image_column(d, col, cfg, split)
        out[split] = Split(inputs, labels)
    return out, names, modality, notes


def _images_from_column(values: list[Any], cfg: DataConfig, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    from PIL import Image

    size = size or cfg.image_size
    if isinstance(size, int):
        size = (size, size)
    arrs = []
    for im in values:
        if not isinstance(im, Image.Image):
            im = Image.fromarray(np.asarray(im, dtype=np.uint8))
        im = im.convert("RGB")
        if size is not None and im.size != size:
            im = im.resize(size, Image.BICUBIC)
        arrs.append(np.asarray(im, dtype=np.uint8))
    if len({a.shape for a in arrs}) > 1:
        raise _err(cfg, "images have different sizes; set data.image_size to resize them")
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def _carve(split: Split, fraction: float, rng: np.random.Generator) -> tuple[Split, Split]:
    n = len(split)
    perm = rng.permutation(n)
    k = max(1, int(round(n * fraction)))
    return split.subset(np.sort(perm[k:])), split.subset(np.sort(perm[:k]))


def _cap(split: Split, n: int, rng: np.random.Generator) -> Split:
    """At most ``n`` examples of ``split``, drawn at random (seeded), kept in their original order."""
    return split if len(split) <= n else split.subset(np.sort(rng.permutation(len(split))[:n]))


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
    """Read ``cfg.source`` into train / validation / test splits (validation and test carved when absent), seeded
    by ``cfg.seed`` when set, else ``seed`` (the run's train.seed)."""
    seed = cfg.seed if cfg.seed is not None else seed
    notes: list[str] = []
    if Path(cfg.source).suffix.lower() == ".npz":
        splits, names = _load_npz(cfg)
        modality = "image"
    else:
        splits, names, modality, notes = _from_hf(cfg)
    rng = np.random.default_rng(seed)
    train = splits["train"]
    test = splits.get("test")
    if test is None:
        train, test = _carve(train, cfg.test_fraction, rng)
        notes.append(f"no test split: carved {len(test)} examples ({cfg.test_fraction:.0%}) from train")
    val = splits.get("validation")
    if val is None and cfg.val_fraction > 0:
        train, val = _carve(train, cfg.val_fraction, rng)
    if cfg.max_samples:  # a seeded random subset of each split (files are often sorted by label)
        train, test = (_cap(s, cfg.max_samples, rng) for s in (train, test))
        val = _cap(val, cfg.max_samples, rng) if val is not None else None
    transfer = None
    if cfg.shots_per_class:
        train, more, rest = few_shot(train, cfg.shots_per_class, len(names), seed)
        notes += more
        if cfg.transfer == "rest":
            transfer = Split(rest.inputs, torch.full_like(rest.labels, -1))  # labels hidden
    if transfer is not None and len(transfer) == 0:
        transfer = None
        notes.append("data.transfer: rest is empty (every training example is labelled)")
    if cfg.transfer not in ("none", "rest"):
        transfer = _read_unlabelled(cfg, cfg.transfer, modality, train)
    synthetic = None
    if cfg.synthetic is not None:
        if modality != "image":
            raise _err(cfg, "data.synthetic mixes synthetic images into an image task; this task is text")
        synthetic = _read_synthetic(cfg, names, train, seed)
        notes.append(f"data.synthetic: {len(synthetic)} synthetic images from {cfg.synthetic.path}")
    if cfg.text_augment is not None:
        if modality != "text":
            raise _err(cfg, "data.text_augment edits texts; this task has images (see data.diffaugment)")
        from .text_augment import eda

        base = list(train.inputs) + (list(transfer.inputs) if transfer is not None else [])
        ta = cfg.text_augment
        extra = eda(base, ta.copies, ta.alpha, ta.ops, seed)  # copy 0 of every text, then copy 1, ...
        labels = torch.full((len(extra),), -1, dtype=torch.long)
        if ta.labelled:  # each copy of a training text keeps that text's label, and trains like it
            own = torch.zeros(len(extra), dtype=torch.bool)
            for c in range(ta.copies):
                labels[c * len(base):c * len(base) + len(train)] = train.labels
                own[c * len(base):c * len(base) + len(train)] = True
            idx = torch.nonzero(own).flatten().tolist()
            train = concat(train, Split([extra[i] for i in idx], labels[idx]))
            extra = [extra[i] for i in torch.nonzero(~own).flatten().tolist()]
            labels = labels[~own]
            notes.append(f"data.text_augment: {len(idx)} edited training texts added to the training split, "
                         "with their labels")
        if extra:
            more = Split(extra, labels)
            transfer = more if transfer is None else concat(transfer, more)
            notes.append(f"data.text_augment: {len(extra)} edited texts added to the transfer set")
    for name, s in (("train", train), ("validation", val), ("test", test)):
        if s is not None and len(s) == 0:
            raise _err(cfg, f"the {name} split is empty")
        if s is not None and len(s) and int(s.labels.max()) >= len(names):
            raise _err(cfg, f"the {name} split has label {int(s.labels.max())} but only {len(names)} classes")
    _check_labels_seen_in_train(cfg, names, train, {"validation": val, "test": test})
    return TaskData(modality, names, train, val, test, notes, transfer, synthetic)


def _check_labels_seen_in_train(cfg: DataConfig, names: list[str], train: Split,
                                others: dict[str, Split | None]) -> None:
    """Refuse classes that validation or test hold but train does not: the student could never learn them, and
    the scores would silently count them as errors."""
    seen = set(train.labels.unique().tolist())
    unseen: dict[int, int] = {}
    where: set[str] = set()
    for name, s in others.items():
        if s is None:
            continue
        for c, k in zip(*np.unique(s.labels.numpy(), return_counts=True), strict=True):
            if int(c) >= 0 and int(c) not in seen:
                unseen[int(c)] = unseen.get(int(c), 0) + int(k)
                where.add(name)
    if unseen:
        labels = ", ".join(repr(names[c]) for c in sorted(unseen)[:8]) + (" ..." if len(unseen) > 8 else "")
        raise _err(cfg, f"{len(unseen)} label(s) appear in {' and '.join(sorted(where))} but not in train: {labels} "
                   f"({sum(unseen.values())} rows); add training examples of them or remove those rows")


def _read_unlabelled(cfg: DataConfig, path: str, modality: str, like: Split) -> Split:
    """The inputs at ``path`` (a transfer set), of the task's kind; labels are -1."""
    src = Path(path)
    where = f"data.transfer {path}"
    if modality == "text":
        if src.suffix.lower() == ".txt":
            inputs: Any = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
        else:
            ds = hf_dataset(cfg.model_copy(update={"source": path}))
            cols = [c for c in (cfg.text_column, cfg.text_pair_column) if c is not None]
            for d in ds.values():
                missing = [c for c in cols if c not in d.column_names]
                if missing:
                    raise DistilleryError(f"{where}: no text column {missing[0]!r} (columns: "
                                          f"{', '.join(d.column_names)})")
            rows = [r for d in ds.values() for r in zip(*(d[c] for c in cols), strict=True)
                    if not any(_is_blank(t) for t in r)]  # an empty text teaches nothing: left out
            inputs = [tuple(str(t) for t in r) for r in rows] if len(cols) == 2 else [str(r[0]) for r in rows]
    else:
        size = tuple(like.inputs.shape[-2:])[::-1]  # PIL (width, height)
        if src.suffix.lower() == ".npz":
            splits, _ = _load_npz(cfg.model_copy(update={"source": path}))
            imgs = torch.cat([s.inputs for s in splits.values()])
            if tuple(imgs.shape[-2:]) != tuple(like.inputs.shape[-2:]):
                imgs = torch.nn.functional.interpolate(imgs.float(), size=tuple(like.inputs.shape[-2:]),
                                                       mode="bilinear", antialias=True).round().clamp(0, 255)
                imgs = imgs.to(torch.uint8)
            inputs = imgs
        else:
            ds = hf_dataset(cfg.model_copy(update={"source": path}))
            col = next((c for c in ("image", "img", "pixel_values") if c in ds["train"].column_names), None)
            if col is None:
                raise DistilleryError(f"{where}: no images found")
            inputs = _images_from_column([im for d in ds.values() for im in d[col]], cfg, size)  # type: ignore
    if len(inputs) == 0:
        raise DistilleryError(f"{where}: no inputs found")
    return Split(inputs, torch.full((len(inputs),), -1, dtype=torch.long))


def _read_synthetic(cfg: DataConfig, names: list[str], like: Split, seed: int) -> Split:
    """Labelled synthetic images from a class-folder tree, resized like the real ones, ``ratio`` x the real count
    (a seeded subset when there are more)."""
    assert cfg.synthetic is not None
    path = cfg.synthetic.path
    ds = hf_dataset(cfg.model_copy(update={"source": path}))["train"]
    if "label" not in ds.column_names or not hasattr(ds.features["label"], "names"):
        raise DistilleryError(f"data.synthetic.path {path}: expected one sub-folder of images per class")
    folder_names = list(ds.features["label"].names)
    index = {n: i for i, n in enumerate(names)}
    unknown = [n for n in folder_names if n not in index]
    if unknown:
        raise DistilleryError(f"data.synthetic.path {path}: folder {unknown[0]!r} is not a class of the task "
                              f"(classes: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''})")
    want = int(round(cfg.synthetic.ratio * len(like)))
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(ds))[:want])
    ds = ds.select(keep.tolist())
    size = tuple(like.inputs.shape[-2:])[::-1]
    images = _images_from_column(ds["image"], cfg, size)  # type: ignore[arg-type]
    labels = torch.tensor([index[folder_names[i]] for i in ds["label"]], dtype=torch.long)
    return Split(images, labels)
