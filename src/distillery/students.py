"""A finished run's student, from its directory alone (no teacher): saving it, loading it (its weights checked
against the hash recorded when they were saved), evaluating it on the run's test split and predicting with it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .config import Config, build_config
from .data import TaskData, load_task_data
from .data.batching import ImageDataset, TextCollator, TextDataset, collate_images, make_loader, tokenize
from .data.loaders import Tokenizers
from .errors import DistilleryError
from .fileio import atomic_write_text, verify_hash, write_with_hash
from .models import Network, create_model
from .models.hf import load_tokenizer
from .rundir import read_run_config, write_config
from .runtime import log
from .teacher import compute_features

TEXT_BUILTINS_NEED_VOCAB = ("text_cnn", "transformer")


def student_kwargs(cfg: Config, tok: Tokenizers | None) -> dict[str, Any]:
    """``student.kwargs`` with the vocabulary size and padding id a built-in text student takes from its
    tokenizer."""
    kwargs = dict(cfg.student.kwargs)
    if tok is not None and cfg.student.model in TEXT_BUILTINS_NEED_VOCAB:
        kwargs.setdefault("vocab_size", len(tok.student))
        kwargs.setdefault("pad_token_id", tok.student.pad_token_id or 0)
    return kwargs


def save_student(run_dir: Path, cfg: Config, student: Network, data: TaskData, tok: Tokenizers | None) -> None:
    """The student of a classification run: ``student.safetensors`` (its SHA-256 in ``student.json``), the
    description ``student.json`` (model, classes, kwargs, preprocessing) and the tokenizer."""
    from safetensors.torch import save_file

    write_config(run_dir, cfg)
    sd = {k: v.detach().cpu().contiguous() for k, v in student.state_dict().items()}
    digest = write_with_hash(run_dir / "student.safetensors", lambda tmp: save_file(sd, str(tmp)))
    kwargs = student_kwargs(cfg, tok)
    if tok is not None:
        tok.student.save_pretrained(str(run_dir / "tokenizer"))
    meta = {"model": cfg.student.model, "num_classes": data.num_classes, "kwargs": kwargs,
            "modality": data.modality, "class_names": data.class_names, "max_length": cfg.data.max_length,
            "input": student.input_spec(), "sha256": digest}
    atomic_write_text(run_dir / "student.json", json.dumps(meta, indent=2))


def load_student(run_dir: str | Path) -> tuple[Network, dict[str, Any], Any]:
    """Rebuild the student of a finished run from its directory alone (no teacher needed). The weights are used
    only when their bytes have the SHA-256 recorded in student.json when they were saved."""
    d = Path(run_dir)
    meta_path = d / "student.json"
    weights = d / "student.safetensors"
    if not meta_path.is_file() or not weights.is_file():
        raise DistilleryError(f"{d}: not a finished run directory (student.json / student.safetensors missing)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not {"model", "num_classes", "kwargs", "modality"} <= meta.keys():
            raise ValueError("missing keys")
    except (ValueError, UnicodeDecodeError) as e:
        raise DistilleryError(f"{meta_path}: corrupt or not written by distillery ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:120]}); it cannot describe the student") from None
    if meta.get("sha256") and not verify_hash(weights, meta["sha256"]):
        raise DistilleryError(f"{weights} is corrupt: its content hash differs from the one recorded when it was "
                              "saved (student.json); it is not used")
    net = create_model(meta["model"], meta["num_classes"], pretrained=False, weights=str(weights),
                       **meta["kwargs"])
    net.eval()
    tok = load_tokenizer(str(d / "tokenizer")) if (d / "tokenizer").is_dir() else None
    return net, meta, tok


def evaluate(run_dir: str | Path, quiet: bool = False) -> dict[str, Any]:
    """Re-evaluate a run's student on the test split of the run's data (an export folder: its ONNX model, with
    ONNX Runtime; the int8 model when the export has one)."""
    d = Path(run_dir)
    from .export.runner import is_export

    if is_export(d):
        return _evaluate_export(d)
    cfg_path = d / "config.yaml"
    if not cfg_path.is_file():
        raise DistilleryError(f"{d}: no config.yaml; not a run directory")
    cfg = build_config(read_run_config(d), origin=str(cfg_path))
    net, meta, tok = load_student(d)
    data = load_task_data(cfg.data, seed=cfg.train.seed)
    if data.modality == "text":
        ids = tokenize(tok, data.test.inputs, meta["max_length"])
        loader = make_loader(TextDataset(data.test, ids), cfg.train.eval_batch_size, False, 0, 0,
                             TextCollator(tok.pad_token_id or 0))
    else:
        loader = make_loader(ImageDataset(data.test), cfg.train.eval_batch_size, False, 0, 0, collate_images)
    bf16 = "bf16" in str(cfg.train.precision)  # as the run evaluated it (metrics.json's accuracy)
    logits = compute_features(net, loader, {"logits"}, "evaluating", progress=not quiet, side="student",
                              bf16=bf16)["logits"]
    finite_or_refuse(logits, d)
    return {"accuracy": float((logits.argmax(-1) == data.test.labels).float().mean()), "num_test": len(data.test)}


def _evaluate_export(d: Path) -> dict[str, Any]:
    from .export.runner import OnnxStudent

    cfg = build_config(read_run_config(d), origin=str(d / "config.yaml"))
    data = load_task_data(cfg.data, seed=cfg.train.seed)
    student = OnnxStudent(d)
    if data.modality == "text":
        logits = student.run(student.encode_texts(list(data.test.inputs)))
    else:
        logits = student.run({"pixel_values": data.test.inputs.numpy()})
    return {"accuracy": float((logits.argmax(-1) == data.test.labels.numpy()).mean()), "num_test": len(data.test),
            "model": student.variant}


def finite_or_refuse(logits: torch.Tensor, run_dir: str | Path) -> None:
    """NaN or Inf outputs are never reported as predictions or scores (nor printed as JSON)."""
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits)).any(-1).sum())
        raise DistilleryError(f"the student of {run_dir} gives non-finite outputs (NaN/Inf) for {bad} of "
                              f"{logits.shape[0]} inputs; its weights are damaged or diverged: retrain it")


def looks_like_path(x: str) -> bool:
    """A single word with a file extension or a folder separator, e.g. ``inputs.txt`` or ``data/cat.png``."""
    return " " not in x.strip() and (os.sep in x or os.path.splitext(x)[1].lower() in (
        ".txt", ".csv", ".tsv", ".json", ".jsonl", ".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"))


def predict(run_dir: str | Path, inputs: list[str]) -> list[dict[str, Any]]:
    """Predict labels for texts (text runs) or image paths (image runs) with a run's student, or with an export
    folder's ONNX model (ONNX Runtime)."""
    from .export.runner import OnnxStudent, is_export

    if is_export(run_dir):
        return OnnxStudent(run_dir).predict(inputs)
    net, meta, tok = load_student(run_dir)
    if meta["modality"] == "text":
        for x in inputs:
            if looks_like_path(x) and not os.path.exists(x):
                log(f"note: {x!r} is not an existing file; it is classified as the text itself")
        enc = TextCollator(tok.pad_token_id or 0)(
            [{"student": ids, "teacher": None, "label": torch.tensor(0), "index": i}
             for i, ids in enumerate(tokenize(tok, inputs, meta["max_length"]))])
        batch_inputs = enc["student"]
    else:
        import numpy as np
        from PIL import Image

        arrs = []
        size = meta["input"].get("size")
        for p in inputs:
            if not Path(p).is_file():
                raise DistilleryError(f"image not found: {p}")
            im = Image.open(p).convert("RGB")
            if size:
                im = im.resize((size, size))
            arrs.append(torch.from_numpy(np.asarray(im, dtype=np.uint8)).permute(2, 0, 1))
        if len({a.shape for a in arrs}) > 1:
            raise DistilleryError("images have different sizes; resize them to the training size")
        batch_inputs = {"pixel_values": torch.stack(arrs)}
    with torch.no_grad():
        logits = net(batch_inputs).logits
    finite_or_refuse(logits, run_dir)
    probs = logits.softmax(-1)
    names = meta["class_names"]
    return [{"input": x, "label": names[int(p.argmax())], "confidence": round(float(p.max()), 4)}
            for x, p in zip(inputs, probs, strict=True)]
