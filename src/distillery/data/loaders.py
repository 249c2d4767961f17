"""Datasets, loaders and tokenizers of a classification run (text or images)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..errors import DistilleryError
from ..models.hf import load_tokenizer
from .batching import ImageDataset, TextCollator, TextDataset, collate_images, make_loader, tokenize
from .sources import TaskData


@dataclass
class Tokenizers:
    """The student's tokenizer and, when it differs, the teacher's (``same``: one tokenizer for both)."""

    student: Any
    student_name: str
    teacher: Any | None
    same: bool


def load_tokenizers(cfg: Config, teacher_needed: bool) -> Tokenizers:
    """The tokenizers of a text run: ``student.tokenizer``, else the hf: student's or the hf: teacher's."""
    lead = cfg.teacher.members()[0][0] if cfg.teacher else ""  # an ensemble's members share its first's tokens
    t_name = lead[3:] if lead.startswith("hf:") else None
    if cfg.student.tokenizer:
        s_name = cfg.student.tokenizer
    elif cfg.student.model.startswith("hf:"):
        s_name = cfg.student.model[3:]
    elif t_name:
        s_name = t_name
    else:
        raise DistilleryError("student.tokenizer: a text student needs a tokenizer (a Hub id or local dir), "
                              "or an hf: text teacher whose tokenizer it can share")
    s_tok = load_tokenizer(s_name)
    if t_name is None or not teacher_needed:
        return Tokenizers(s_tok, s_name, None, True)
    if t_name == s_name:
        return Tokenizers(s_tok, s_name, s_tok, True)
    return Tokenizers(s_tok, s_name, load_tokenizer(t_name), False)


def augments(cfg: Config, modality: str) -> bool:
    """Whether the training images are augmented (``data.augment`` auto or standard)."""
    return modality == "image" and cfg.data.augment in ("auto", "standard")


class Loaders:
    """Datasets and loaders of one classification run: ``train`` (augmented views, with the transfer set),
    ``train_eval`` (the labelled training split, un-augmented), ``val`` and ``test``; ``head_train``: the
    augmented views without mixup (a teacher head's training data)."""

    def __init__(self, cfg: Config, data: TaskData, tok: Tokenizers | None, views: int = 0):
        tc = cfg.train
        self.augment = augments(cfg, data.modality)
        if cfg.data.mixup > 0 and not self.augment:
            raise DistilleryError("data.mixup mixes augmented training images: it needs an image task with "
                                  "data.augment auto or standard")
        self.collate: Any = None
        seed = tc.seed
        splits = {"train": data.train, "val": data.val, "test": data.test}
        self.ds: dict[str, Any] = {}
        if data.modality == "image":
            for name, s in splits.items():
                if s is not None:
                    self.ds[name] = ImageDataset(s, augment=False, seed=seed)
            mixup = cfg.data.mixup  # > 0 only with augmentation (refused above otherwise)
            self.ds["train_aug"] = ImageDataset(data.student_train, augment=self.augment, seed=seed, views=views,
                                                mixup=mixup)
            if mixup > 0:  # the teacher's head adapts to the task's (unmixed) views and labels
                self.ds["head_train"] = ImageDataset(data.student_train, augment=self.augment, seed=seed, views=views)
            collate = collate_images
        else:
            assert tok is not None

            def ids(s) -> tuple[list[list[int]], list[list[int]] | None]:
                """Token ids for the student's tokenizer and, when it differs, the teacher's."""
                sid = tokenize(tok.student, s.inputs, cfg.data.max_length)
                return sid, None if tok.same or tok.teacher is None else tokenize(tok.teacher, s.inputs,
                                                                                  cfg.data.max_length)

            for name, s in splits.items():
                if s is not None:
                    self.ds[name] = TextDataset(s, *ids(s))
            if data.transfer is None:
                self.ds["train_aug"] = self.ds["train"]
            else:  # labelled examples, then the unlabelled transfer set (labels -1); only the latter is new
                lab = self.ds["train"]
                sid, tid = ids(data.transfer)
                self.ds["train_aug"] = TextDataset(data.student_train, lab.student_ids + sid,
                                                   None if tid is None else lab.teacher_ids + tid)
            collate = TextCollator(tok.student.pad_token_id or 0,
                                   None if tok.teacher is None else (tok.teacher.pad_token_id or 0))
        self.collate = collate
        nw = tc.num_workers

        def loader(name: str, train: bool):
            if name not in self.ds:
                return None
            bs = tc.batch_size if train else tc.eval_batch_size
            return make_loader(self.ds[name], bs, shuffle=train, num_workers=nw if train else 0, seed=seed,
                               collate=collate)

        self.train = loader("train_aug", True)
        self.head_train = loader("head_train", True) or self.train  # what a teacher head (ft) trains on
        self.train_eval = loader("train", False)
        self.val = loader("val", False)
        self.test = loader("test", False)


def probe_batch(loaders: Loaders) -> dict[str, Any]:
    """Two test samples, for the forward passes that check (and shape) what the loss terms get."""
    ds = loaders.test.dataset  # its first two examples (the loader may batch by length)
    batch = loaders.collate([ds[i] for i in range(min(2, len(ds)))])  # type: ignore[index, arg-type]
    return {k: ({n: x[:2] for n, x in v.items()} if isinstance(v, dict) else v[:2]) for k, v in batch.items()}
