"""The teacher-output cache policy of a run: what is stored (or why the teacher runs live), and opening the cache
(verify, resume or build) for any task, its FLOPs booked to the ``cache_build`` phase."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from ..compute.flops import FlopMeter
from ..config import Config
from ..runtime import cache_root, device_of, launch_shard, log
from .cache import CachedTeacher, CacheReport, CacheSettings, Known, cache_digest, open_cache

CACHEABLE = {"logits", "embedding"}
CACHEABLE_IMAGE = CACHEABLE | {"hidden_states"}  # fixed per-sample shapes for CNNs; text states vary in length


def cache_plan(cfg: Config, need: set[str], modality: str, augment: bool, bf16: bool,
               quiet: bool) -> CacheSettings | None:
    """What the teacher-output cache stores for a classification run whose terms need ``need`` from the teacher,
    or None for a live teacher (off, inputs changed at every step, or features without one shape per sample)."""
    assert cfg.teacher is not None
    if cfg.teacher.cache == "off":
        return None
    if cfg.data.diffaugment is not None and modality == "image":
        log("note: teacher outputs are computed live: data.diffaugment changes the inputs at every step", quiet)
        return None
    if not need:
        return None
    allowed = CACHEABLE_IMAGE if modality == "image" else CACHEABLE
    if not need <= allowed:
        log(f"note: teacher outputs are computed live: {', '.join(sorted(need - allowed))} cannot be cached for "
            f"{modality} inputs (the cache holds {', '.join(sorted(allowed))})", quiet)
        return None
    views = cfg.teacher.cache_views or (cfg.train.epochs if augment else 1)
    dtype = cfg.teacher.cache_dtype if cfg.teacher.cache_dtype != "auto" else ("bf16" if bf16 else "fp32")
    return CacheSettings(features=tuple(sorted(need)), views=views if augment else 1, dtype=dtype,
                         topk=cfg.teacher.cache_topk)


def open_teacher_cache(cfg: Config, key: dict[str, Any], plan: CacheSettings, num_samples: int, teacher: nn.Module,
                       dataset_for_view: Callable[[int], Dataset], collate, bf16: bool, quiet: bool,
                       meter: FlopMeter, known: Known | None = None) -> tuple[CachedTeacher, CacheReport]:
    """Open the teacher-output cache keyed by ``key`` (``teacher.cache`` a path, or ``auto``: under the cache root
    by the key's digest); the whole build's FLOPs are charged, also when it is reused or resumed. ``known``: rows
    whose teacher outputs an earlier pass computed (stored without running the teacher)."""
    assert cfg.teacher is not None
    tc = cfg.train
    root = (Path(cfg.teacher.cache).expanduser() if cfg.teacher.cache != "auto"
            else cache_root(cfg.teacher.cache_dir) / "teacher_outputs" / cache_digest(key))
    with meter.in_phase("cache_build"):
        reader, report = open_cache(root, key, plan, num_samples, teacher, dataset_for_view, collate,
                                    tc.eval_batch_size, device_of(teacher), bf16, tc.progress,
                                    notify=lambda m: log(f"note: {m}", quiet),
                                    flops=lambda: meter.by_phase["cache_build"], shard=launch_shard(), known=known)
    if report.build_flops is not None:
        meter.by_phase["cache_build"] = float(report.build_flops)
    log(f"teacher cache {report.status}: {root} ({report.size_bytes / 2**20:.1f} MiB, {plan.views} view(s)"
        + (f", top-{plan.topk} logits" if plan.topk else "")
        + (f", built in {report.build_s:.1f} s" if report.status != "reused" else "") + ")", quiet)
    return reader, report
