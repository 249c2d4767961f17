"""Teacher-output cache: the teacher's Features computed once over the transfer set and replayed at every step.

Distillation then costs about what training the student alone costs. The cache holds exactly the Features the
loss terms need, for ``views`` seeded augmented views per sample (one without augmentation): at epoch ``e`` the
student receives view ``e % views`` of each sample, replayed from its seed, so the cached teacher outputs are the
teacher's outputs on the very input the student sees. Stored outputs are never transformed.

Layout of a cache directory::

    manifest.json          key (fingerprint of teacher weights, data and preprocessing), arrays, finished chunks
    <array>.npy            one memory-mapped array per stored tensor, shape [views, samples, ...]

Arrays are written chunk by chunk (``chunk`` samples of one view); every finished chunk is recorded in the
manifest with a checksum, so an interrupted build resumes where it stopped, and a corrupted or truncated array is
detected when the cache is opened and rebuilt. Logits may be stored as top-k (indices + fp16 values + the
probability mass of the other classes, spread evenly over them when replayed); embeddings in fp32, fp16 or bf16.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import DistilleryError
from ..features import Features
from ..fileio import atomic_write_text, locked
from ..progress import track
from ..runtime import autocast_ctx
from .outputs import TeacherOutputs

FORMAT_VERSION = 1
STORAGE = {"fp32": (np.float32, None), "fp16": (np.float16, None), "bf16": (np.uint16, torch.bfloat16)}


Known = Callable[[int, list[int]], Features | None]  # (view, rows) -> the teacher's Features already computed


@dataclass
class CacheSettings:
    """What to store and how: ``features`` (names of Features), ``views``, storage ``dtype``, logits ``topk``."""

    features: tuple[str, ...]
    views: int = 1
    dtype: str = "fp32"
    topk: int = 0
    chunk: int = 1024  # samples of one view per checksummed, resumable unit

    def __post_init__(self) -> None:
        if self.dtype not in STORAGE:
            raise DistilleryError(f"teacher.cache_dtype must be one of {sorted(STORAGE)}, got {self.dtype!r}")
        if self.views < 1:
            raise DistilleryError("teacher.cache_views must be at least 1")


@dataclass
class CacheReport:
    path: str
    status: str  # built | reused | resumed | rebuilt | built in N shards
    build_s: float = 0.0
    teacher_forward_s: float = 0.0
    size_bytes: int = 0
    views: int = 1
    notices: list[str] = field(default_factory=list)
    build_flops: float | None = None  # the whole build's, also when reused or resumed (None: not counted)
    total_build_s: float = 0.0  # likewise, in seconds

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "build_s": round(self.build_s, 3),
                "teacher_forward_s": round(self.teacher_forward_s, 3), "size_bytes": self.size_bytes,
                "views": self.views, "build_flops": self.build_flops, "total_build_s": round(self.total_build_s, 3)}


def cache_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _checksum(arrays: dict[str, np.ndarray], view: int, lo: int, hi: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        h.update(np.ascontiguousarray(arrays[name][view, lo:hi]).tobytes())
    return h.hexdigest()


def _flatten(f: Features, settings: CacheSettings) -> dict[str, torch.Tensor]:
    """The tensors to store for one batch, by array name (top-k split of the logits, one array per layer)."""
    out: dict[str, torch.Tensor] = {}
    for name in settings.features:
        value = getattr(f, name)
        if value is None:
            raise DistilleryError(f"teacher.cache: the teacher returned no {name!r}, which a loss term needs")
        if name == "logits" and settings.topk:
            logits = value.float()
            k = min(settings.topk, logits.shape[-1])
            vals, idx = logits.topk(k, dim=-1)
            p = logits.softmax(-1)
            out["logits.topk_values"] = vals
            out["logits.topk_indices"] = idx.to(torch.int32)
            out["logits.rest_mass"] = (1 - p.gather(-1, idx).sum(-1)).clamp_min(0)
            out["logits.num_classes"] = torch.full((logits.shape[0],), logits.shape[-1], dtype=torch.int32)
        elif isinstance(value, tuple):
            for i, v in enumerate(value):
                out[f"{name}.{i}"] = v
        else:
            out[name] = value
    return out


def _storage_dtype(array_name: str, settings: CacheSettings) -> tuple[Any, torch.dtype | None]:
    if array_name in ("logits.topk_indices", "logits.num_classes"):
        return np.int32, None
    if array_name == "logits.rest_mass":
        return np.float32, None
    if array_name == "logits.topk_values":
        return np.float16, None
    return STORAGE[settings.dtype]


_TORCH_VIEW = {np.dtype(stored): view for stored, view in STORAGE.values() if view is not None}  # uint16: bf16


def stored_tensor(array: np.ndarray) -> torch.Tensor:
    """A stored array as the tensor it holds, without a copy (bf16 is stored as uint16 bits: ``STORAGE``)."""
    t = torch.from_numpy(array)
    view = _TORCH_VIEW.get(array.dtype)
    return t.view(torch.int16).view(view) if view is not None else t


def read_stored(root: Path, name: str) -> torch.Tensor:
    """Array ``name`` (e.g. ``logits``) of the cache in ``root``, ``[views, samples, ...]``, as the tensor it
    holds: for analyses of a run's teacher outputs outside training."""
    manifest = json.loads((Path(root) / "manifest.json").read_text())
    if name not in manifest["arrays"]:
        raise DistilleryError(f"teacher cache {root}: no {name!r} array (it holds {sorted(manifest['arrays'])})")
    return stored_tensor(np.load(Path(root) / manifest["arrays"][name]["file"]))


def topk_to_logits(values: torch.Tensor, indices: torch.Tensor, rest_mass: torch.Tensor,
                   num_classes: int) -> torch.Tensor:
    """Full logits from top-k ones: the other classes share the stored remaining probability mass evenly.

    Softmax of the result gives the teacher's top-k probabilities and the lost mass exactly (at temperature 1);
    ``log m - log(C-k) + logsumexp(top-k) - log(1-m)`` is the logit that gives each other class ``m/(C-k)``.
    """
    values = values.float()
    k = values.shape[-1]
    if k >= num_classes:
        return torch.empty(values.shape[:-1] + (num_classes,), dtype=values.dtype).scatter_(-1, indices.long(),
                                                                                           values)
    m = rest_mass.float().clamp(1e-12, 1 - 1e-6)
    fill = torch.log(m) - torch.log(torch.tensor(float(num_classes - k))) + values.logsumexp(-1) - torch.log1p(-m)
    fill = torch.minimum(fill, values.min(-1).values)  # never above a stored logit (rounding of m near 0)
    out = fill.unsqueeze(-1).expand(*values.shape[:-1], num_classes).clone()
    return out.scatter_(-1, indices.long(), values)


class TeacherCache:
    """One cache directory: open (verify), build (resume), and read rows. See the module docstring."""

    def __init__(self, root: Path, key: dict[str, Any], settings: CacheSettings, num_samples: int):
        self.root, self.key, self.settings, self.num_samples = Path(root), key, settings, num_samples
        self.manifest_path = self.root / "manifest.json"
        self.manifest: dict[str, Any] = {}
        self.arrays: dict[str, np.ndarray] = {}

    # -- opening -------------------------------------------------------------------------------------------
    def _fresh_manifest(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "key": self.key, "digest": cache_digest(self.key),
                "num_samples": self.num_samples, "views": self.settings.views, "chunk": self.settings.chunk,
                "arrays": {}, "done": {}, "complete": False, "build_s": 0.0, "teacher_forward_s": 0.0}

    def _reset(self) -> None:
        if self.root.exists():
            for p in self.root.iterdir():
                if p.is_file() and (p.suffix == ".npy" or p.name.startswith("manifest.json")):
                    p.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        self.manifest = self._fresh_manifest()
        self.arrays = {}
        self._save_manifest()

    def _save_manifest(self) -> None:
        atomic_write_text(self.manifest_path, json.dumps(self.manifest, indent=1, default=str))

    def open(self) -> list[str]:
        """Load the manifest and the arrays, verifying them; returns notices (stale, corrupted, partial)."""
        notices: list[str] = []
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.manifest_path.exists():
            self._reset()
            return notices
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            notices.append(f"teacher cache {self.root}: unreadable manifest; rebuilding")
            self._reset()
            return notices
        if manifest.get("version") != FORMAT_VERSION or manifest.get("key") != json.loads(
                json.dumps(self.key, default=str)):
            changed = sorted(k for k in set(self.key) | set(manifest.get("key", {}))
                             if json.dumps(self.key.get(k), default=str)
                             != json.dumps(manifest.get("key", {}).get(k), default=str))
            notices.append(f"teacher cache {self.root} is stale ({', '.join(changed) or 'format'} changed); "
                           "rebuilding")
            self._reset()
            return notices
        self.manifest = manifest
        for name, spec in manifest["arrays"].items():
            path = self.root / spec["file"]
            try:
                np.load(path, mmap_mode="r")  # raises on a truncated file ("r+" would silently extend it)
                arr = np.load(path, mmap_mode="r+")
                if list(arr.shape) != spec["shape"] or str(arr.dtype) != spec["dtype"]:
                    raise ValueError("shape or dtype differs from the manifest")
            except (OSError, ValueError) as e:
                notices.append(f"teacher cache {self.root}: {spec['file']} is damaged ({e}); rebuilding")
                self._reset()
                return notices
            self.arrays[name] = arr
        bad = [c for c, digest in manifest["done"].items() if _checksum(self.arrays, *self._bounds(c)) != digest]
        if bad:
            notices.append(f"teacher cache {self.root}: {len(bad)} chunk(s) failed their checksum "
                           f"({', '.join(bad[:3])}{'...' if len(bad) > 3 else ''}); recomputing them")
            for c in bad:
                del manifest["done"][c]
            manifest["complete"] = False
            self._save_manifest()
        return notices

    def _bounds(self, chunk_id: str) -> tuple[int, int, int]:
        view, c = (int(x) for x in chunk_id.split(":"))
        lo = c * self.manifest["chunk"]
        return view, lo, min(self.num_samples, lo + self.manifest["chunk"])

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    # -- building ------------------------------------------------------------------------------------------
    def _ensure_arrays(self, flat: dict[str, torch.Tensor]) -> None:
        if self.arrays:
            return
        for name, t in flat.items():
            np_dtype, _ = _storage_dtype(name, self.settings)
            self._new_array(name, np_dtype, [self.settings.views, self.num_samples, *t.shape[1:]])
        self._save_manifest()

    def _new_array(self, name: str, dtype: Any, shape: list[int]) -> None:
        file = f"{name}.npy"
        self.arrays[name] = np.lib.format.open_memmap(self.root / file, mode="w+", dtype=dtype, shape=tuple(shape))
        self.manifest["arrays"][name] = {"file": file, "shape": list(shape), "dtype": str(np.dtype(dtype))}

    def merge(self, parts: list[TeacherCache]) -> None:
        """Fill this (empty) cache with the chunks of shard caches built with the same key and settings, then mark
        it complete when every chunk is there. Rows are copied as stored: the result equals a 1-process build."""
        for part in parts:
            for name, spec in part.manifest["arrays"].items():
                if name not in self.arrays:
                    self._new_array(name, np.dtype(spec["dtype"]), spec["shape"])
            for chunk_id in part.manifest["done"]:
                view, lo, hi = part._bounds(chunk_id)
                for name, arr in part.arrays.items():
                    self.arrays[name][view, lo:hi] = arr[view, lo:hi]
                self.manifest["done"][chunk_id] = _checksum(self.arrays, view, lo, hi)
        for arr in self.arrays.values():
            arr.flush()
        n_chunks = -(-self.num_samples // self.settings.chunk)
        self.manifest["complete"] = len(self.manifest["done"]) == self.settings.views * n_chunks
        self.manifest["build_s"] = max((p.manifest.get("build_s", 0.0) for p in parts), default=0.0)
        for k in ("teacher_forward_s", "build_flops"):
            self.manifest[k] = sum(p.manifest.get(k, 0.0) or 0.0 for p in parts)
        self.manifest["shards"] = len(parts)
        self._save_manifest()

    def _write(self, name: str, view: int, rows: torch.Tensor, values: torch.Tensor) -> None:
        _, torch_view = _storage_dtype(name, self.settings)
        if torch_view is not None:
            data = values.detach().to(torch_view).cpu().view(torch.int16).numpy().view(np.uint16)
        else:
            data = values.detach().cpu().float().numpy() if values.is_floating_point() else values.cpu().numpy()
        self.arrays[name][view, rows.numpy()] = data

    def build(self, net: nn.Module, dataset_for_view: Callable[[int], Dataset], collate, batch_size: int,
              device: torch.device, bf16: bool, progress: bool,
              flops: Callable[[], float] | None = None,
              only: Callable[[int, int], bool] | None = None, known: Known | None = None) -> tuple[float, float]:
        """Compute every missing chunk (those ``only(view, chunk)`` selects: a shard); returns (wall seconds, seconds
        spent in the teacher's forward). ``flops`` reads a running FLOP count of the teacher's forward passes; the
        manifest keeps the build's total. ``known(view, rows)`` may give the teacher's Features for those rows when
        an earlier pass (a linear probe's) already computed them: they are stored without running the teacher."""
        s = self.settings
        n_chunks = -(-self.num_samples // s.chunk)
        todo = [(v, c) for v in range(s.views) for c in range(n_chunks) if f"{v}:{c}" not in self.manifest["done"]
                and (only is None or only(v, c))]
        t_start, t_fwd = time.perf_counter(), 0.0
        was_training = net.training
        net.eval()
        total_batches = sum(-(-(min(self.num_samples, (c + 1) * s.chunk) - c * s.chunk) // batch_size)
                            for _, c in todo)
        bar = track(range(total_batches), f"teacher cache ({s.views} view{'s' * (s.views > 1)})",
                    total=total_batches, enabled=progress)
        ticks = iter(bar)
        current_view, ds, per = -1, None, None
        f_last = flops() if flops is not None else 0.0
        for view, c in todo:
            if view != current_view:
                ds, current_view = dataset_for_view(view), view
                lengths = getattr(ds, "lengths", None)
                per = lengths() if lengths is not None else None  # once per view, not per chunk
            lo, hi = c * s.chunk, min(self.num_samples, (c + 1) * s.chunk)
            given = known(view, list(range(lo, hi))) if known is not None else None
            if given is not None:  # the teacher already ran on these inputs (a probe's pass): stored, not re-run
                flat = _flatten(given, s)
                self._ensure_arrays(flat)
                for name, values in flat.items():
                    self._write(name, view, torch.arange(lo, hi), values)
                for _ in range(-(-(hi - lo) // batch_size)):
                    next(ticks, None)
                f_last = self._finish_chunk(view, c, lo, hi, flops, f_last)
                continue
            rows: list[int] | range = range(lo, hi)
            if per is not None:  # texts: batches of similar length, little padding (rows are written by index)
                rows = sorted(rows, key=per.__getitem__)
            # an own generator: building the cache must not advance the global RNG (the run stays what it would be
            # with a live teacher)
            loader = DataLoader(Subset(ds, rows), batch_size=batch_size, shuffle=False, collate_fn=collate,
                                generator=torch.Generator().manual_seed(0))
            for batch in loader:
                inputs = {k: v.to(device) for k, v in batch["teacher"].items()}
                t0 = time.perf_counter()
                with torch.no_grad(), autocast_ctx(device, bf16):
                    f = net(inputs)
                flat = _flatten(f, s)
                t_fwd += time.perf_counter() - t0
                self._ensure_arrays(flat)
                for name, values in flat.items():
                    self._write(name, view, batch["index"], values)
                next(ticks, None)
            f_last = self._finish_chunk(view, c, lo, hi, flops, f_last)
        for _ in ticks:  # close the progress bar
            pass
        net.train(was_training)
        wall = time.perf_counter() - t_start
        self.manifest["complete"] = True
        self.manifest["build_s"] = self.manifest.get("build_s", 0.0) + wall
        self.manifest["teacher_forward_s"] = self.manifest.get("teacher_forward_s", 0.0) + t_fwd
        self._save_manifest()
        return wall, t_fwd

    def _finish_chunk(self, view: int, c: int, lo: int, hi: int, flops: Callable[[], float] | None,
                      f_last: float) -> float:
        """Record a written chunk (its checksum, the FLOPs since ``f_last``) in the manifest; returns the count."""
        for arr in self.arrays.values():
            arr.flush()
        self.manifest["done"][f"{view}:{c}"] = _checksum(self.arrays, view, lo, hi)
        now = f_last
        if flops is not None:
            now = flops()
            self.manifest["build_flops"] = self.manifest.get("build_flops", 0.0) + now - f_last
        self._save_manifest()
        return now

    def size_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


class CachedTeacher(TeacherOutputs):
    """Replays cached teacher Features by (view, sample index). Arrays are memory-mapped; caches smaller than
    ``ram_limit_mb`` are read into memory once (faster random access)."""

    def __init__(self, cache: TeacherCache, ram_limit_mb: float | None = None):
        self.settings = cache.settings
        limit = ram_limit_mb if ram_limit_mb is not None else float(os.environ.get("DISTILLERY_CACHE_RAM_MB", 4096))
        in_ram = cache.size_bytes() <= limit * 2**20
        self.tensors: dict[str, torch.Tensor] = {}
        for name, arr in cache.arrays.items():
            a = np.array(arr) if in_ram else np.load(cache.root / cache.manifest["arrays"][name]["file"],
                                                     mmap_mode="c")
            self.tensors[name] = stored_tensor(a)
        self.in_ram = in_ram
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> CachedTeacher:
        self.device = device
        return self

    def rows(self, index: torch.Tensor, view: torch.Tensor | None) -> dict[str, torch.Tensor]:
        idx = index.cpu().long()
        v = torch.zeros_like(idx) if view is None else view.cpu().long() % self.settings.views
        return {name: t[v, idx] for name, t in self.tensors.items()}

    def outputs(self, batch: dict) -> Features:
        rows = self.rows(batch["index"], batch.get("view"))
        values: dict[str, Any] = {}
        layers: dict[str, list[tuple[int, torch.Tensor]]] = {}
        for name, t in rows.items():
            if name.startswith("logits."):
                continue
            t = t.float().to(self.device)
            if "." in name:
                base, i = name.rsplit(".", 1)
                layers.setdefault(base, []).append((int(i), t))
            else:
                values[name] = t
        for base, items in layers.items():
            values[base] = tuple(t for _, t in sorted(items, key=lambda x: x[0]))
        if "logits.topk_values" in rows:
            values["logits"] = topk_to_logits(rows["logits.topk_values"], rows["logits.topk_indices"],
                                              rows["logits.rest_mass"],
                                              int(rows["logits.num_classes"][0])).to(self.device)
        return Features(**values)


def open_cache(root: Path, key: dict[str, Any], settings: CacheSettings, num_samples: int, net: nn.Module,
               dataset_for_view: Callable[[int], Dataset], collate, batch_size: int, device: torch.device,
               bf16: bool, progress: bool, notify: Callable[[str], None],
               flops: Callable[[], float] | None = None, shard: tuple[int, int] | None = None,
               known: Known | None = None) -> tuple[CachedTeacher, CacheReport]:
    """Open the cache at ``root`` (verifying it), build or finish it if needed, and return its reader. A process
    that finds another one building the same cache waits for it, then reuses the result.

    ``shard = (rank, world)``: the processes of a distributed run build it together, each computing every
    world-th chunk into ``root/shards/``; rank 0 merges the shards into one cache equal to a 1-process build. The
    processes coordinate through files, so ``root`` must be on a filesystem they all see."""
    if shard is not None and shard[1] > 1:
        return _open_sharded(root, key, settings, num_samples, net, dataset_for_view, collate, batch_size, device,
                             bf16, progress, notify, flops, shard, known)
    with locked(Path(root) / ".lock", f"teacher cache {root}", wait=True,
                on_wait=lambda: notify(f"teacher cache {root}: another process is building it; waiting")):
        return _open_locked(root, key, settings, num_samples, net, dataset_for_view, collate, batch_size, device,
                            bf16, progress, notify, flops, known)


def _open_locked(root, key, settings, num_samples, net, dataset_for_view, collate, batch_size, device, bf16,
                 progress, notify, flops, known=None) -> tuple[CachedTeacher, CacheReport]:
    cache = TeacherCache(root, key, settings, num_samples)
    notices = cache.open()
    for n in notices:
        notify(n)
    status = "reused"
    wall = fwd = 0.0
    if not cache.complete:
        started = bool(cache.manifest["done"])
        status = "resumed" if started else ("rebuilt" if notices else "built")
        if started:
            notify(f"teacher cache {root}: resuming an interrupted build "
                   f"({len(cache.manifest['done'])} chunk(s) already done)")
        wall, fwd = cache.build(net, dataset_for_view, collate, batch_size, device, bf16, progress, flops,
                                known=known)
    return CachedTeacher(cache), _report(cache, status, wall, fwd, notices)



def _wait_for(done: Callable[[], bool], what: str, notify: Callable[[str], None]) -> None:
    limit = float(os.environ.get("DISTILLERY_SHARD_WAIT_S", 24 * 3600))
    t0, told = time.perf_counter(), False
    while not done():
        if not told:
            notify(f"waiting for {what}")
            told = True
        if time.perf_counter() - t0 > limit:
            raise DistilleryError(f"gave up waiting for {what} after {limit:.0f} s (DISTILLERY_SHARD_WAIT_S); with "
                                  "several nodes, teacher.cache_dir must be on a filesystem every node sees")
        time.sleep(0.2)


def _manifest_complete(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def _open_sharded(root, key, settings, num_samples, net, dataset_for_view, collate, batch_size, device, bf16,
                  progress, notify, flops, shard, known=None) -> tuple[CachedTeacher, CacheReport]:
    rank, world = shard
    root = Path(root)
    lock = root / ".lock"
    with locked(lock, f"teacher cache {root}", wait=True):
        cache = TeacherCache(root, key, settings, num_samples)
        notices = cache.open()
        if cache.complete:
            return CachedTeacher(cache), _report(cache, "reused", 0.0, 0.0, notices)
    n_chunks = -(-num_samples // settings.chunk)
    shard_root = root / "shards" / f"{world}" / f"{rank}"
    t0 = time.perf_counter()
    with locked(shard_root / ".lock", f"teacher cache shard {shard_root}", wait=True):
        part = TeacherCache(shard_root, key, settings, num_samples)
        part.open()
        fwd = 0.0
        if not part.complete:
            _, fwd = part.build(net, dataset_for_view, collate, batch_size, device, bf16, progress, flops,
                                only=lambda v, c: (v * n_chunks + c) % world == rank, known=known)
    shard_roots = [root / "shards" / f"{world}" / f"{r}" for r in range(world)]
    if rank == 0:
        _wait_for(lambda: all(_manifest_complete(r / "manifest.json") for r in shard_roots),
                  f"the other {world - 1} process(es)' shards of the teacher cache {root}", notify)
        with locked(lock, f"teacher cache {root}", wait=True):
            cache = TeacherCache(root, key, settings, num_samples)
            notices += cache.open()
            if not cache.complete:
                parts = []
                for r in shard_roots:
                    p = TeacherCache(r, key, settings, num_samples)
                    p.open()
                    parts.append(p)
                cache.merge(parts)
                del parts
            shutil.rmtree(root / "shards" / f"{world}", ignore_errors=True)
    else:
        _wait_for(lambda: _manifest_complete(root / "manifest.json"), f"rank 0 to merge the teacher cache {root}",
                  notify)
        with locked(lock, f"teacher cache {root}", wait=True):
            cache = TeacherCache(root, key, settings, num_samples)
            notices += cache.open()
    return CachedTeacher(cache), _report(cache, f"built in {world} shards", time.perf_counter() - t0, fwd, notices)


def _report(cache: TeacherCache, status: str, wall: float, fwd: float, notices: list[str]) -> CacheReport:
    return CacheReport(path=str(cache.root), status=status, build_s=wall, teacher_forward_s=fwd,
                       size_bytes=cache.size_bytes(), views=cache.settings.views, notices=notices,
                       build_flops=cache.manifest.get("build_flops"),
                       total_build_s=cache.manifest.get("build_s", wall))
