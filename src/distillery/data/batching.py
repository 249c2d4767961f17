"""Torch datasets and collation: seeded, replayable image augmentation and pre-tokenised text."""
from __future__ import annotations

import hashlib
from itertools import chain
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from .sources import Split


def view_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of the augmented view of sample ``index`` at ``epoch``: replaying it gives the same view."""
    h = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & 0x7FFF_FFFF_FFFF_FFFF


def view_params(seed: int, epoch: int, index: int, size: tuple[int, int]) -> tuple[int, int, bool]:
    """The standard CIFAR augmentation's draws for sample ``index`` at ``epoch``: crop offsets for a padding of
    size/8 and a horizontal flip (p = 1/2), from a generator seeded with ``view_seed(seed, epoch, index)``, so
    replaying them gives the same view."""
    gen = torch.Generator().manual_seed(view_seed(seed, epoch, index))
    n = 2 * max(1, size[0] // 8) + 1
    top = int(torch.randint(0, n, (1,), generator=gen))
    left = int(torch.randint(0, n, (1,), generator=gen))
    return top, left, bool(torch.rand((), generator=gen) < 0.5)


def mix_params(seed: int, epoch: int, index: int, num_samples: int, alpha: float) -> tuple[int, float]:
    """Mixup's draws for sample ``index`` at ``epoch`` (Zhang et al. 2018): a partner sample and the weight
    ``lam ~ Beta(alpha, alpha)`` of ``index``'s own view, from a generator seeded apart from the crop's draws
    (:func:`view_params`), so replaying them gives the same mixed view."""
    import numpy as np

    rng = np.random.default_rng([view_seed(seed, epoch, index), 0x6D6978])  # "mix": a stream of its own
    return int(rng.integers(num_samples)), float(rng.beta(alpha, alpha))


def augment_batch(images: torch.Tensor, params: list[tuple[int, int, bool]]) -> torch.Tensor:
    """Random crop (zero padding of size/8) and horizontal flip of a uint8 batch ``[B, C, H, W]``, each sample
    with its own draws (:func:`view_params`)."""
    import numpy as np

    h, w = images.shape[-2:]
    pad = max(1, h // 8)
    # numpy for the per-sample slices: a torch op per sample pays for its thread pool at every call (tens of
    # microseconds with 2 threads), numpy's slice copies do not
    padded = np.pad(images.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty(images.shape, dtype=padded.dtype)
    for i, (top, left, flip) in enumerate(params):
        crop = padded[i, :, top:top + h, left:left + w]
        out[i] = crop[..., ::-1] if flip else crop
    return torch.from_numpy(out)


class ImageDataset(Dataset):
    """uint8 ``[N, 3, H, W]`` images; with ``augment`` each sample's view is a function of (seed, view, index).

    The view is the epoch, or ``epoch % views`` when ``views`` is set (the views a teacher cache holds). With
    ``mixup`` > 0 (and ``augment``) each view is mixed with the same view of a seeded partner sample
    (:func:`mix_params`), rounded to uint8; the batch then carries the partner's label (``label_mix``) and the
    view's own weight (``lam``): the teacher labels the mixed image (function matching, Beyer et al. 2022) and
    cross-entropy mixes the two labels.
    """

    def __init__(self, split: Split, augment: bool = False, seed: int = 0, views: int = 0, mixup: float = 0.0):
        self.images, self.labels = split.inputs, split.labels
        self.augment, self.seed, self.views, self.epoch = augment, seed, views, 0
        self.mixup = mixup if augment else 0.0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch % self.views if self.views else epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        b = self.__getitems__([i])
        return {"pixel_values": b["pixel_values"][0], "label": self.labels[i], "index": i,
                "view": self.epoch if self.augment else 0, **{k: b[k][0] for k in MIX_KEYS if k in b}}

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A whole batch at once (the DataLoader's batched fetch): the same samples and views as ``__getitem__``
        one by one, cropped and flipped together (:func:`augment_batch`)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        imgs = self._views(idx)
        out = {"pixel_values": imgs, "label": self.labels[idx], "index": idx,
               "view": torch.full((len(indices),), self.epoch if self.augment else 0, dtype=torch.long)}
        if self.mixup > 0:
            draws = [mix_params(self.seed, self.epoch, int(i), len(self.labels), self.mixup) for i in indices]
            partner = torch.as_tensor([j for j, _ in draws], dtype=torch.long)
            lam = torch.as_tensor([w for _, w in draws], dtype=torch.float32)
            w = lam.view(-1, *([1] * (imgs.dim() - 1)))
            mixed = w * imgs.float() + (1 - w) * self._views(partner).float()
            out.update(pixel_values=mixed.round_().clamp_(0, 255).to(imgs.dtype), label_mix=self.labels[partner],
                       lam=lam)
        return out

    def _views(self, idx: torch.Tensor) -> torch.Tensor:
        imgs = self.images[idx]
        if self.augment:
            size = tuple(imgs.shape[-2:])
            imgs = augment_batch(imgs, [view_params(self.seed, self.epoch, int(i), size) for i in idx.tolist()])  # type: ignore[arg-type]
        return imgs


MIX_KEYS = ("label_mix", "lam")  # a mixup batch's partner labels and own-view weights (ImageDataset)


def collate_images(items: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(items, dict):  # already a batch (ImageDataset.__getitems__)
        inputs = {"pixel_values": items["pixel_values"]}
        return {"student": inputs, "teacher": inputs, "label": items["label"], "index": items["index"],
                "view": items["view"], **{k: items[k] for k in MIX_KEYS if k in items}}
    pixels = torch.stack([it["pixel_values"] for it in items])
    inputs = {"pixel_values": pixels}
    return {"student": inputs, "teacher": inputs, "label": torch.stack([it["label"] for it in items]),
            "index": torch.tensor([it["index"] for it in items]), "view": torch.tensor([it["view"] for it in items]),
            **{k: torch.stack([it[k] for it in items]) for k in MIX_KEYS if k in items[0]}}


def tokenize(tokenizer, inputs: list[Any], max_length: int) -> list[list[int]]:
    """Token ids per example (pairs joined with the tokenizer's separator), truncated to ``max_length``."""
    if inputs and isinstance(inputs[0], tuple):
        a, b = zip(*inputs, strict=True)
        enc = tokenizer(list(a), list(b), truncation=True, max_length=max_length)
    else:
        enc = tokenizer(list(inputs), truncation=True, max_length=max_length)
    return enc["input_ids"]


class TextDataset(Dataset):
    """Pre-tokenised text, for the student's and (when it differs) the teacher's tokenizer."""

    def __init__(self, split: Split, student_ids: list[list[int]], teacher_ids: list[list[int]] | None = None):
        self.labels, self.student_ids, self.teacher_ids = split.labels, student_ids, teacher_ids

    def set_epoch(self, epoch: int) -> None:  # text has no augmentation here
        pass

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> list[int]:
        """Tokens per example (the longer tokenisation when teacher and student differ): evaluation batches
        examples of similar length, so little of a batch is padding."""
        if self.teacher_ids is None:
            return [len(s) for s in self.student_ids]
        return [max(len(s), len(t)) for s, t in zip(self.student_ids, self.teacher_ids, strict=True)]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"student": self.student_ids[i], "teacher": None if self.teacher_ids is None else self.teacher_ids[i],
                "label": self.labels[i], "index": i}


def _pad(seqs: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids`` and their ``attention_mask``, written with one scatter for the whole batch rather
    than a copy per sequence (every training step collates a batch: the per-sequence copies were a few percent of
    a small text student's step)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    mask = torch.arange(int(lengths.max()) if len(seqs) else 0) < lengths[:, None]
    ids = torch.full(mask.shape, pad_id, dtype=torch.long)
    ids[mask] = torch.tensor(list(chain.from_iterable(seqs)), dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask.long()}


class TextCollator:
    def __init__(self, student_pad: int, teacher_pad: int | None = None):
        self.student_pad, self.teacher_pad = student_pad, teacher_pad

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        s = _pad([it["student"] for it in items], self.student_pad)
        t = s if items[0]["teacher"] is None else _pad([it["teacher"] for it in items], self.teacher_pad or 0)
        return {"student": s, "teacher": t, "label": torch.stack([it["label"] for it in items]),
                "index": torch.tensor([it["index"] for it in items])}


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int, seed: int,
                collate) -> DataLoader:
    """Training (``shuffle``): seeded global batches, each process of a distributed run taking its slice (on one
    process exactly a shuffled ``DataLoader``'s batches); evaluation: sequential, or for examples of varying
    length (a dataset with ``lengths()``) batches of similar length (every consumer orders outputs by index)."""
    from .samplers import GlobalBatchSampler, SortedBatchSampler

    gen = torch.Generator().manual_seed(seed)
    common = {"num_workers": num_workers, "collate_fn": collate, "generator": gen,
              "persistent_workers": num_workers > 0}
    if shuffle:
        return DataLoader(dataset, batch_sampler=GlobalBatchSampler(len(dataset), batch_size, gen), **common)
    lengths = getattr(dataset, "lengths", None)
    if lengths is not None:  # variable-length examples: evaluated in batches of similar length
        return DataLoader(dataset, batch_sampler=SortedBatchSampler(lengths(), batch_size), **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, **common)
