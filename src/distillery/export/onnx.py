"""``distillery export RUN_DIR``: the student of a finished run as an ONNX model (PyTorch's own exporter, dynamic
batch and, for text, sequence axes), checked against PyTorch on real inputs, optionally quantised to int8 with
ONNX Runtime (dynamic; static with a calibration subset of the training data for conv nets), in one folder with
the preprocessing it needs (tokenizer and max length; image size, mean and std) and the test accuracy of each
model."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import build_config
from ..data import load_task_data
from ..errors import DistilleryError
from ..fileio import atomic_write_text
from ..rundir import read_run_config
from ..runtime import log
from ..students import load_student
from .runner import EXPORT_FILE, OnnxStudent, TextEncoder

# max |logit difference| between ONNX Runtime (fp32) and PyTorch on real inputs, per unit of logit scale: 1e-4 for
# logits within +-1, and 1e-4 x max|logit| beyond (fp32 itself is that far from fp64 for large logits: a tiny
# ResNet-20 with logits near 8,500 differs from its own fp64 evaluation by 1.8e-3)
PARITY_TOLERANCE = 1e-4
CALIBRATION_SAMPLES = 256  # training images for static int8 calibration


class _Logits(nn.Module):
    """The student as a function of plain tensors (what ONNX graphs take): inputs by name -> logits."""

    def __init__(self, net: nn.Module, names: list[str]):
        super().__init__()
        self.net, self.names = net, names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.net(dict(zip(self.names, tensors, strict=True))).logits


def export_network(net: nn.Module, example: dict[str, np.ndarray], path: Path, dynamic_sequence: bool,
                   what: str = "the network") -> None:
    """Export ``net`` (called with a dict of the ``example`` inputs, returning Features) to ONNX at ``path`` with
    PyTorch's exporter: a dynamic batch axis and, with ``dynamic_sequence``, a dynamic sequence axis."""
    names = list(example)
    batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("seq", min=1)
    shapes = tuple(({0: batch, 1: seq} if dynamic_sequence else {0: batch}) for _ in names)
    try:
        prog = torch.onnx.export(_Logits(net.eval(), names), tuple(torch.from_numpy(example[n]) for n in names),
                                 input_names=names, output_names=["logits"], dynamic_shapes={"tensors": shapes},
                                 dynamo=True, verbose=False)
        prog.save(str(path))
    except Exception as e:
        first = " ".join(str(e).split())[:300] or type(e).__name__
        raise DistilleryError(f"{what}: cannot be exported to ONNX ({type(e).__name__}: {first})") from None


def quantize_model(src: Path, dst: Path, net: nn.Module, calibration: list[dict[str, np.ndarray]] | None) -> str:
    """int8 of the ONNX model ``src`` into ``dst`` with ONNX Runtime: static (QDQ, per-channel weights, calibrated
    on the ``calibration`` batches) for conv nets (the text CNN, the ResNets, MobileNet), dynamic (weights int8,
    activations quantised on the fly) otherwise; returns the method used."""
    import logging

    root = logging.getLogger()  # onnxruntime.quantization calls logging.basicConfig(level=INFO): undone below
    saved = (list(root.handlers), root.level)
    try:
        return _quantize_with_ort(src, dst, net, calibration)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _has_conv(net: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in net.modules())


def export_run(run_dir: str | Path, out: str | Path | None = None, fmt: str = "onnx", quantize: str | None = None,
               quiet: bool = False) -> dict[str, Any]:
    """Export the student of ``run_dir`` to ``out`` (default ``RUN_DIR/export``); returns export.json's content.
    An export that disagrees with PyTorch beyond :data:`PARITY_TOLERANCE` is refused (nothing is written)."""
    if fmt != "onnx":
        raise DistilleryError(f"--format {fmt}: the export formats are: onnx")
    if quantize not in (None, "int8"):
        raise DistilleryError(f"--quantize {quantize}: the quantisations are: int8")
    d = Path(run_dir)
    net, meta, tok = load_student(d)
    if meta.get("modality") not in ("text", "image"):
        raise DistilleryError(f"{d}: only classification students export (this run is {meta.get('modality')})")
    target = Path(out) if out else d / "export"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DistilleryError(f"--out {target} already exists and is not empty; choose another folder "
                              "(exports are never overwritten)")
    cfg = build_config(read_run_config(d), origin=str(d / "config.yaml"))
    data = load_task_data(cfg.data, seed=cfg.train.seed)
    tmp = target.with_name(f".{target.name}.partial{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        info = _export(net, meta, tok, d, data, tmp, quantize, quiet)
        atomic_write_text(tmp / EXPORT_FILE, json.dumps(info, indent=2))
        if target.exists():
            target.rmdir()  # empty (checked above)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"exported {meta['model']} to {target}: parity {info['parity']['max_abs_logit_diff']:.2e}, test accuracy "
        f"{info['accuracy']['fp32']:.4f}" + (f", int8 {info['accuracy']['int8']:.4f}" if quantize else ""), quiet)
    return info


def _export(net, meta, tok, run_dir: Path, data, tmp: Path, quantize: str | None, quiet: bool) -> dict[str, Any]:
    text = meta["modality"] == "text"
    names = ["input_ids", "attention_mask"] if text else ["pixel_values"]
    if text:
        tok.save_pretrained(str(tmp / "tokenizer"))
    shutil.copy(run_dir / "config.yaml", tmp / "config.yaml")  # eval reads the test split from it
    runner_meta = {"modality": meta["modality"], "class_names": meta["class_names"],
                   "max_length": meta.get("max_length"), "files": {"fp32": "model.onnx"},
                   "image_size": list(data.test.inputs.shape[-2:]) if not text else None}
    atomic_write_text(tmp / EXPORT_FILE, json.dumps(runner_meta))

    probe = _inputs(tmp, runner_meta, data.test, 32)
    t0 = time.perf_counter()
    export_network(net, {n: probe[n][:2] for n in names}, tmp / "model.onnx", text, f"student {meta['model']}")
    export_s = time.perf_counter() - t0
    fp32 = OnnxStudent(tmp, "fp32")
    ort_logits = fp32.run(probe)
    with torch.no_grad():
        ref = net({n: torch.from_numpy(probe[n]) for n in names}).logits.numpy()
    diff = float(np.abs(ort_logits - ref).max())
    scale = max(1.0, float(np.abs(ref).max()))
    if not diff <= PARITY_TOLERANCE * scale:
        raise DistilleryError(f"student {meta['model']}: the ONNX model disagrees with PyTorch by {diff:.3g} "
                              f"(max |logit difference| on {len(ref)} test inputs; the limit is "
                              f"{PARITY_TOLERANCE * scale:.3g} = {PARITY_TOLERANCE:g} x the logit scale {scale:.3g}); "
                              "nothing was written")
    info: dict[str, Any] = {**runner_meta, "format": "onnx", "source_run": str(run_dir), "model": meta["model"],
                            "inputs": names, "input": meta.get("input") or {}, "opset": _opset(tmp / "model.onnx"),
                            "export_s": round(export_s, 2),
                            "parity": {"max_abs_logit_diff": diff, "logit_scale": scale, "inputs": len(ref),
                                       "tolerance": PARITY_TOLERANCE * scale},
                            "torch": torch.__version__}
    everything = _inputs(tmp, runner_meta, data.test, None)
    labels = data.test.labels.numpy()
    acc = {"fp32": _accuracy(fp32.run(everything), labels)}
    if quantize == "int8":
        method = quantize_model(tmp / "model.onnx", tmp / "model.int8.onnx", net,
                                calibration_batches(tmp, runner_meta, data.train))
        runner_meta["files"]["int8"] = "model.int8.onnx"
        atomic_write_text(tmp / EXPORT_FILE, json.dumps(runner_meta))
        acc["int8"] = _accuracy(OnnxStudent(tmp, "int8").run(everything), labels)
        info["int8"] = {"method": method, "accuracy_change": round(acc["int8"] - acc["fp32"], 6)}
        info["files"] = runner_meta["files"]
    info["accuracy"] = {**acc, "num_test": int(len(labels)), "split": "test"}
    return info


def _inputs(folder: Path, runner_meta: dict[str, Any], split, n: int | None) -> dict[str, np.ndarray]:
    """The first ``n`` examples (all: None) of ``split`` as the export's inputs, encoded the way the export's
    runner encodes them (so parity and accuracy measure what a user of the export gets)."""
    k = len(split) if n is None else min(n, len(split))
    if runner_meta["modality"] == "text":
        return TextEncoder(folder / "tokenizer", runner_meta["max_length"])(list(split.inputs[:k]))
    return {"pixel_values": split.inputs[:k].numpy().astype(np.uint8)}


def calibration_batches(folder: Path, runner_meta: dict[str, Any], split) -> list[dict[str, np.ndarray]]:
    """The first :data:`CALIBRATION_SAMPLES` training examples as the model's inputs, in batches of 32 (texts
    padded per batch, as a user's batches are), for static int8 calibration."""
    k = min(CALIBRATION_SAMPLES, len(split))
    if runner_meta["modality"] == "text":
        enc = TextEncoder(folder / "tokenizer", runner_meta["max_length"])
        texts = list(split.inputs[:k])
        return [enc(texts[i:i + 32]) for i in range(0, k, 32)]
    images = split.inputs[:k].numpy().astype(np.uint8)
    return [{"pixel_values": images[i:i + 32]} for i in range(0, k, 32)]


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(-1) == labels).mean())


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _quantize_with_ort(src: Path, dst: Path, net: nn.Module, calib: list[dict[str, np.ndarray]] | None) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_name(dst.stem + ".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    except Exception:  # pre-processing only helps; quantise the model as exported
        shutil.copy(src, pre)
    try:
        if calib and _has_conv(net):
            from onnxruntime.quantization import CalibrationDataReader, QuantFormat

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.batches = iter(calib)

                def get_next(self):
                    return next(self.batches, None)

            n = sum(len(next(iter(b.values()))) for b in calib)
            # Gather (an embedding lookup) stays float: quantising the token embeddings costs accuracy for no speed
            quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            op_types_to_quantize=["Conv", "MatMul", "Gemm"])
            return f"static (QDQ, per-channel, calibrated on {n} training examples)"
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
        return "dynamic (int8 weights, activations quantised at run time)"
    except Exception as e:
        first = " ".join(str(e).split())[:300] or type(e).__name__
        raise DistilleryError(f"int8 quantisation of the exported model failed ({type(e).__name__}: {first})") from None
    finally:
        pre.unlink(missing_ok=True)
