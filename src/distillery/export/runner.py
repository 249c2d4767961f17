"""Running an exported student with ONNX Runtime: the same predictions and scores as the PyTorch student, from
the export folder alone (``model.onnx``, ``export.json``, the tokenizer); no torch is used to predict."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DistilleryError

EXPORT_FILE = "export.json"


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is an export folder written by ``distillery export``."""
    return (Path(path) / EXPORT_FILE).is_file()


class TextEncoder:
    """The export's tokenizer, with the ``tokenizers`` library alone when the folder has ``tokenizer.json`` (a fast
    tokenizer: the same ids as transformers gives, without importing torch), else transformers' AutoTokenizer."""

    def __init__(self, folder: Path, max_length: int):
        self.max_length = max_length
        path = folder / "tokenizer.json"
        if path.is_file():
            from tokenizers import Tokenizer

            cfg_path = folder / "tokenizer_config.json"
            cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
            pad = cfg.get("pad_token") or "[PAD]"
            pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else pad
            self.fast = Tokenizer.from_file(str(path))
            self.fast.no_padding()
            self.fast.no_truncation()
            self.pad_id = self.fast.token_to_id(pad) or 0
            self.hf = None
        else:
            from transformers import AutoTokenizer

            self.fast, self.hf = None, AutoTokenizer.from_pretrained(str(folder))

    def __call__(self, texts: list) -> dict[str, np.ndarray]:
        if self.hf is not None:
            pairs = bool(texts) and isinstance(texts[0], tuple)
            args = ([list(x) for x in zip(*texts, strict=True)] if pairs else [list(texts)])
            enc = self.hf(*args, truncation=True, max_length=self.max_length, padding=True, return_tensors="np")
            return {"input_ids": enc["input_ids"].astype(np.int64),
                    "attention_mask": enc["attention_mask"].astype(np.int64)}
        assert self.fast is not None
        self.fast.enable_truncation(self.max_length)
        encs = self.fast.encode_batch([tuple(t) if isinstance(t, tuple) else t for t in texts])
        width = max((len(e.ids) for e in encs), default=1)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class OnnxStudent:
    """An exported student: :meth:`logits` of texts or images (numpy), :meth:`predict` as ``distillery predict``
    prints it. ``variant``: ``fp32`` (``model.onnx``) or ``int8`` (``model.int8.onnx``); default the int8 model
    when the export has one."""

    def __init__(self, export_dir: str | Path, variant: str | None = None):
        import onnxruntime as ort

        self.dir = Path(export_dir)
        try:
            self.meta: dict[str, Any] = json.loads((self.dir / EXPORT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DistilleryError(f"{self.dir / EXPORT_FILE}: not readable ({type(e).__name__}); re-export the "
                                  "run") from None
        variant = variant or ("int8" if self.meta.get("int8") else "fp32")
        name = self.meta["files"].get(variant)
        if name is None or not (self.dir / name).is_file():
            raise DistilleryError(f"{self.dir}: the export has no {variant} model")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.dir / name), opts, providers=["CPUExecutionProvider"])
        self.variant = variant
        self.encoder = TextEncoder(self.dir / "tokenizer", self.meta["max_length"]) \
            if self.meta["modality"] == "text" else None

    # -- inputs ------------------------------------------------------------------------------------------------
    def encode_texts(self, texts: list) -> dict[str, np.ndarray]:
        """Texts (or (text, pair) tuples) as the model's inputs, padded to the longest."""
        assert self.encoder is not None
        return self.encoder(texts)

    def encode_images(self, paths: list[str]) -> dict[str, np.ndarray]:
        from PIL import Image

        h, w = self.meta["image_size"]
        arrs = []
        for p in paths:
            if not Path(p).is_file():
                raise DistilleryError(f"image not found: {p}")
            im = Image.open(p).convert("RGB")
            if im.size != (w, h):
                im = im.resize((w, h))
            arrs.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
        return {"pixel_values": np.stack(arrs)}

    # -- outputs -----------------------------------------------------------------------------------------------
    def run(self, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
        n = len(next(iter(inputs.values())))
        out = [self.session.run(["logits"], {k: v[i:i + batch_size] for k, v in inputs.items()})[0]
               for i in range(0, n, batch_size)]
        logits = np.concatenate(out) if out else np.zeros((0, len(self.meta["class_names"])), np.float32)
        if not np.isfinite(logits).all():
            raise DistilleryError(f"the exported student {self.dir} gives non-finite outputs (NaN/Inf); re-export it")
        return logits

    def logits(self, inputs: list[str]) -> np.ndarray:
        enc = self.encode_texts(inputs) if self.meta["modality"] == "text" else self.encode_images(inputs)
        return self.run(enc)

    def predict(self, inputs: list[str]) -> list[dict[str, Any]]:
        probs = _softmax(self.logits(inputs))
        names = self.meta["class_names"]
        return [{"input": x, "label": names[int(p.argmax())], "confidence": round(float(p.max()), 4)}
                for x, p in zip(inputs, probs, strict=True)]
