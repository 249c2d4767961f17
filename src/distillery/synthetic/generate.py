"""`distillery synth`: generate a labelled synthetic image set with a diffusers text-to-image pipeline.

Farhat & Chen 2024 add Stable Diffusion v1-4 images made from "rudimentary prompts" (1x or 2x the training-set
size) when the task is data-limited. Image ``k`` of class ``c`` has its own seed, a function of
(synth.seed, c, k), so the set is deterministic per seed whatever the batch size, and an interrupted run resumes:
images already on disk are kept. Files: ``<out>/<class>/<k:05d>.png`` and ``<out>/manifest.json`` (model,
settings, and per image its prompt and seed).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import Config, SynthConfig
from ..data.batching import view_seed
from ..errors import DistilleryError
from ..fileio import atomic_write_text
from ..progress import track
from .prompts import default_prompts, render

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class SynthReport:
    out: Path
    generated: int  # images made by this call
    kept: int  # images found on disk and kept (resume)
    total: int
    seconds: float
    device: str


@dataclass
class _Item:
    label: int
    cls: str
    k: int
    prompt: str
    seed: int
    path: Path


def _device(sc: SynthConfig) -> torch.device:
    if sc.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(sc.device)
    except RuntimeError:
        raise DistilleryError(f"synth.device {sc.device!r}: not a device (auto, cpu, cuda, cuda:1, ...)") from None


def _settings(sc: SynthConfig, dtype: str, save_size: int | None, templates: list[str]) -> dict[str, Any]:
    """What decides the images (the manifest records it; a resumed run must match it)."""
    return {"model": sc.model, "prompts": templates, "class_names": sc.class_names, "steps": sc.steps,
            "guidance": sc.guidance, "height": sc.height, "width": sc.width, "save_size": save_size,
            "seed": sc.seed, "dtype": dtype}


def _load_pipeline(sc: SynthConfig, device: torch.device, dtype: torch.dtype):
    from diffusers import AutoPipelineForText2Image

    try:
        pipe = AutoPipelineForText2Image.from_pretrained(sc.model, dtype=dtype)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = "" if Path(sc.model).exists() else " (not a local folder; the Hub may be unreachable)"
        raise DistilleryError(f"synth.model {sc.model}: could not be loaded{where}: {first}") from None
    if getattr(pipe, "safety_checker", None) is not None:  # as in the paper's sampling script
        pipe.safety_checker = None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _save(img, path: Path, size: int | None) -> None:
    from PIL import Image

    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    img.save(tmp)
    tmp.replace(path)  # atomic: an interrupted save leaves no half image that a resume would keep


def synthesize(cfg: Config, quiet: bool = False) -> SynthReport:
    """Generate (or complete) the synthetic image set described by ``cfg.synth`` for ``cfg.data``'s classes."""
    from ..data import load_task_data

    sc = cfg.synth or SynthConfig()
    out = Path(sc.out or f"{cfg.output.dir}-synthetic")
    data = load_task_data(cfg.data, seed=cfg.train.seed)
    if data.modality != "image":
        raise DistilleryError("synth: the task is text; `distillery synth` makes images for image tasks "
                              "(for text, see data.text_augment)")
    bad = [n for n in data.class_names if "/" in n or n in ("", ".", "..")]
    if bad:
        raise DistilleryError(f"synth: class name {bad[0]!r} cannot be a folder name")
    unknown = sorted(set(sc.class_names) - set(data.class_names))
    if unknown:
        raise DistilleryError(f"synth.class_names: {unknown[0]!r} is not a class of the task")
    n_cls = data.num_classes
    per_class = sc.images_per_class or max(1, round((sc.ratio or 1.0) * len(data.train) / n_cls))
    h, w = data.train.inputs.shape[-2:]
    save_size = sc.save_size or (int(h) if h == w else None)
    templates = sc.prompts or default_prompts(cfg.data.source)
    if any("{class}" not in t for t in templates):
        raise DistilleryError("synth.prompts: every template needs {class}, e.g. 'a picture of a {class}'")
    device = _device(sc)
    dtype = sc.dtype if sc.dtype != "auto" else ("fp16" if device.type == "cuda" else "fp32")
    settings = _settings(sc, dtype, save_size, templates)

    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())["settings"]
        except (ValueError, KeyError):
            raise DistilleryError(f"synth.out {out}: manifest.json is unreadable; choose another synth.out") from None
        diff = [k for k in settings if old.get(k) != settings[k]]
        if diff:
            raise DistilleryError(f"synth.out {out} holds images made with other settings ({diff[0]}: "
                                  f"{old.get(diff[0])!r} there, {settings[diff[0]]!r} now); choose another "
                                  "synth.out, or delete it")
    elif out.exists() and any(out.iterdir()):
        raise DistilleryError(f"synth.out {out} exists and is not a synthetic set (no manifest.json); choose "
                              "another synth.out")

    items = [_Item(c, name, k, render(templates[k % len(templates)], sc.class_names.get(name, name)),
                   view_seed(sc.seed, c, k) & 0xFFFF_FFFF, out / name / f"{k:05d}.png")
             for c, name in enumerate(data.class_names) for k in range(per_class)]
    todo = [it for it in items if not it.path.exists()]
    kept = len(items) - len(todo)

    def write_manifest() -> None:
        present = [it for it in items if it.path.exists()]
        atomic_write_text(manifest_path, json.dumps({
            "settings": settings, "device": str(device), "classes": data.class_names,
            "images_per_class": per_class, "complete": len(present) == len(items),
            "images": [{"file": str(it.path.relative_to(out)), "label": it.label, "class": it.cls,
                        "prompt": it.prompt, "seed": it.seed} for it in present]}, indent=1))

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"synth: {len(items)} images ({per_class} per class x {n_cls} classes) in {out}; {kept} already there, "
              f"{len(todo)} to generate on {device} ({dtype})", flush=True)
    if todo:
        pipe = _load_pipeline(sc, device, _DTYPES[dtype])
        batches = [todo[i:i + sc.batch_size] for i in range(0, len(todo), sc.batch_size)]
        extra = {k: v for k, v in (("height", sc.height), ("width", sc.width)) if v is not None}
        for batch in track(batches, f"generating {len(todo)} images", total=len(batches), enabled=not quiet):
            gens = [torch.Generator().manual_seed(it.seed) for it in batch]  # CPU: same latents on any device
            with torch.inference_mode():
                images = pipe(prompt=[it.prompt for it in batch], num_inference_steps=sc.steps,
                              guidance_scale=sc.guidance, generator=gens, output_type="pil", **extra).images
            for it, img in zip(batch, images, strict=True):
                _save(img, it.path, save_size)
            write_manifest()
    write_manifest()
    return SynthReport(out, len(todo), kept, len(items), time.perf_counter() - t0, str(device))
