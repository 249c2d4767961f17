"""Python API: ``run(config) -> metrics``, ``evaluate(run_dir)``, ``predict(run_dir, inputs)``.

One run: read data -> build teacher and student -> give the teacher a task head if needed -> teacher outputs
(cached: computed once per augmented view and replayed; or live) -> train the student with the configured loss terms
-> write the run directory (resolved config, metrics.json, student weights as safetensors, tokenizer, logs).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from .compute import FlopMeter, count_flops, peak_flops
from .config import Config, build_config
from .data import TaskData, load_task_data
from .data.batching import ImageDataset, TextCollator, TextDataset, collate_images, make_loader, tokenize
from .errors import DistilleryError, InUse
from .fileio import atomic_write_text, is_locked, locked, verify_hash, write_with_hash
from .losses.terms import TERMS, TermContext, build_loss_set, check_requirements, resolve_terms
from .models import Network, count_params, create_model
from .models.hf import load_tokenizer
from .teacher import LiveTeacher, compute_features, prepare_head
from .teacher.cache import CacheSettings, open_cache
from .teacher.outputs import device_of
from .training.distributed import compute_device

TEXT_BUILTINS_NEED_VOCAB = ("text_cnn", "transformer")


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[bold cyan]distillery[/] {msg}")


def _refuse_if_taken(d: Path) -> None:
    """Runs are never overwritten: a directory holding anything but a (stale) lock file is refused."""
    if d.exists() and (not d.is_dir() or any(p.name != ".lock" for p in d.iterdir())):
        if d.is_dir() and is_locked(d / ".lock"):
            raise InUse(f"output.dir {d} is in use by another distillery process (lock {d / '.lock'})")
        if (d / "config.yaml").is_file() and not (d / "metrics.json").exists():
            raise DistilleryError(f"output.dir {d} holds an unfinished run; continue it with `distillery run "
                                  f"--resume {d}`, or choose another directory")
        raise DistilleryError(f"output.dir {d} already exists and is not empty; choose another directory "
                              "(runs are never overwritten)")


def _prepare_run_dir(path: str) -> Path:
    d = Path(path).expanduser()
    _refuse_if_taken(d)
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass
class _Tokenizers:
    student: Any
    student_name: str
    teacher: Any | None
    same: bool


def _tokenizers(cfg: Config, teacher_needed: bool) -> _Tokenizers:
    t_name = cfg.teacher.model[3:] if cfg.teacher and cfg.teacher.model.startswith("hf:") else None
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
        return _Tokenizers(s_tok, s_name, None, True)
    if t_name == s_name:
        return _Tokenizers(s_tok, s_name, s_tok, True)
    return _Tokenizers(s_tok, s_name, load_tokenizer(t_name), False)


def _build_student(cfg: Config, data: TaskData, tok: _Tokenizers | None) -> Network:
    kwargs = dict(cfg.student.kwargs)
    if data.modality == "text" and cfg.student.model in TEXT_BUILTINS_NEED_VOCAB:
        n_tok = len(tok.student)
        given = kwargs.get("vocab_size")
        if given is not None and given < n_tok:
            raise DistilleryError(f"student.kwargs.vocab_size={given} is smaller than the tokenizer's {n_tok} "
                                  f"tokens ({tok.student_name}); the student cannot embed its ids")
        kwargs.setdefault("vocab_size", n_tok)
        kwargs.setdefault("pad_token_id", tok.student.pad_token_id or 0)
    student = create_model(cfg.student.model, data.num_classes, pretrained=False, weights=cfg.student.weights,
                           **kwargs)
    if student.modality != data.modality:
        raise DistilleryError(f"student.model {cfg.student.model} is a {student.modality} model but the data is "
                              f"{data.modality}")
    if data.modality == "text" and hasattr(student, "encoder"):
        emb = student.encoder.get_input_embeddings().num_embeddings
        if emb < len(tok.student):
            raise DistilleryError(f"student tokenizer {tok.student_name} has {len(tok.student)} tokens but the "
                                  f"student embeds only {emb}; set student.tokenizer to one that fits")
    return student


def _augments(cfg: Config, modality: str) -> bool:
    return modality == "image" and cfg.data.augment in ("auto", "standard")


class _Loaders:
    """Datasets and loaders of one run."""

    def __init__(self, cfg: Config, data: TaskData, tok: _Tokenizers | None, views: int = 0):
        tc = cfg.train
        self.augment = _augments(cfg, data.modality)
        self.collate: Any = None
        seed = tc.seed
        splits = {"train": data.train, "val": data.val, "test": data.test}
        self.ds: dict[str, Any] = {}
        if data.modality == "image":
            for name, s in splits.items():
                if s is not None:
                    self.ds[name] = ImageDataset(s, augment=False, seed=seed)
            self.ds["train_aug"] = ImageDataset(data.student_train, augment=self.augment, seed=seed, views=views)
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
        self.train_eval = loader("train", False)
        self.val = loader("val", False)
        self.test = loader("test", False)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


def _teacher_test_accuracy(cfg: Config, teacher: Network, data: TaskData, loaders, bf16: bool) -> float:
    """The teacher's (with its task head) test accuracy, kept under the cache root by teacher weights, test split
    and preprocessing: the arms and seeds of a study evaluate one teacher once."""
    import hashlib

    from .teacher.head import cache_root, weights_fingerprint

    key = {"weights": weights_fingerprint(teacher), "test": data.test.fingerprint(), "input": teacher.input_spec(),
           "max_length": cfg.data.max_length, "bf16": bf16}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = cache_root(cfg.teacher.cache_dir) / "teacher_scores" / f"{digest}.json"
    if path.is_file() and verify_hash(path):  # a score whose bytes changed is measured again
        return float(json.loads(path.read_text())["accuracy"])
    logits = compute_features(teacher, loaders.test, {"logits"}, "teacher on test", progress=cfg.train.progress,
                              bf16=bf16)["logits"]
    acc = _accuracy(logits, data.test.labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"accuracy": acc, "key": key}, default=str)
    write_with_hash(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return acc


def _latency_ms(net: Network, loader, batches: int = 5, bf16: bool = False) -> float:
    """Milliseconds per sample for batched inference (eval, no grad): the fastest of a few timed batches after a
    warm-up batch, so that other work on a shared machine inflates it as little as possible."""
    from .teacher.outputs import autocast_ctx, device_of

    net.eval()
    device = device_of(net)
    side = "teacher" if getattr(net, "_is_teacher", False) else "student"
    best = float("inf")
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i > batches:
                break
            inputs = {k: v.to(device) for k, v in batch[side].items()}
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            with autocast_ctx(device, bf16):
                net(inputs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i > 0 or len(loader) == 1:
                best = min(best, (time.perf_counter() - t0) / batch["label"].numel())
    return 1000 * best


def run(config: Config | dict | str | os.PathLike, quiet: bool = False) -> dict[str, Any]:
    """Distil (or train from scratch, per ``distill.method``) one student; returns the metrics dict.

    Farhat & Chen 2024: a randomly initialised student trained with CE + KD + alignment/uniformity on a task, from
    a frozen pre-trained teacher, as an alternative to pre-training the student.
    """
    from .config import load_config

    if isinstance(config, (str, os.PathLike)):
        cfg = load_config(config)
    elif isinstance(config, dict):
        cfg = build_config(config)
    else:
        cfg = config
    return _execute(cfg, Path(cfg.output.dir).expanduser(), quiet, fresh=True)


def resume(run_dir: str | os.PathLike, quiet: bool = False) -> dict[str, Any]:
    """Continue an interrupted run from its last checkpoint (model, optimizer, schedule, RNG, shuffling, history,
    compute counters); the teacher's head and cache are reused or their builds resumed. On CPU with deterministic
    settings the result equals the uninterrupted run's. A run killed before its first checkpoint starts over."""
    d = Path(run_dir).expanduser()
    if (d / "metrics.json").exists():
        raise DistilleryError(f"--resume {d}: the run has already finished (metrics.json is there)")
    if not (d / "config.yaml").is_file():
        raise DistilleryError(f"--resume {d}: not a distillery run directory (no config.yaml)")
    raw = _run_config(d)
    return _execute(build_config(raw, origin=str(d / "config.yaml")), d, quiet, fresh=False)


def _run_config(d: Path) -> dict[str, Any]:
    """A run directory's saved config.yaml as a raw mapping, pointed at the directory where it now is."""
    from .config import load_raw

    raw = load_raw(d / "config.yaml", "run config")
    if not isinstance(raw.get("output"), dict):
        raise DistilleryError(f"{d / 'config.yaml'}: corrupt run config (no output section); it was not written by "
                              "distillery or has been edited")
    raw["output"]["dir"] = str(d)
    return raw


def _execute(cfg: Config, run_dir: Path, quiet: bool, fresh: bool) -> dict[str, Any]:
    t_start = time.perf_counter()
    tc = cfg.train
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    import lightning as L

    L.seed_everything(tc.seed, workers=True, verbose=False)
    bf16 = "bf16" in str(tc.precision)

    term_spec = resolve_terms(cfg.distill.method, cfg.distill.terms)
    needs_teacher = any(w != 0 and type_needs_teacher(n) for n, (w, _) in term_spec.items())
    if needs_teacher and cfg.teacher is None:
        raise DistilleryError(f"distill.method {cfg.distill.method!r} needs a teacher: add a teacher section")
    from .training.distributed import is_rank_zero

    if not is_rank_zero():
        # another process of a distributed run (torchrun, SLURM, or Lightning's launcher re-running this command):
        # rank 0 owns the run directory; this process prepares the same inputs, trains its part, writes nothing
        return _runner(cfg)(cfg, run_dir, term_spec, needs_teacher, bf16, True, t_start, _last_ckpt(run_dir, fresh),
                            writes=False)
    if fresh:
        _prepare_run_dir(str(run_dir))
    lock = run_dir / ".lock"
    ours = False  # the directory is this process's once it holds the lock and found the directory empty
    try:
        with locked(lock, f"output.dir {run_dir}"):
            ckpt = None
            if fresh:
                _refuse_if_taken(run_dir)  # again under the lock: another process may have got here first
                ours = True
            else:
                ckpt = _last_ckpt(run_dir, fresh)
                _log(f"resuming {run_dir} " + (f"from {ckpt}" if ckpt else "from the start (no checkpoint yet)"),
                     quiet)
                if ckpt is None:  # nothing to keep: start over in the same directory
                    for p in run_dir.iterdir():
                        if p.name != ".lock":
                            shutil.rmtree(p) if p.is_dir() else p.unlink()
            metrics = _runner(cfg)(cfg, run_dir, term_spec, needs_teacher, bf16, quiet, t_start, ckpt)
        lock.unlink(missing_ok=True)
        return metrics
    except BaseException as e:
        if isinstance(e, InUse):  # another process holds this run: nothing here is ours to keep or to advise on
            raise
        # a failed run leaves nothing that looks finished. With a checkpoint it is kept, to be resumed (a numerical
        # fault keeps its last good checkpoint); without one the directory we created is removed.
        resumable = any((run_dir / "checkpoints").glob("*.ckpt"))
        if not (run_dir / "metrics.json").exists():
            if resumable:
                _log(f"the run is kept at {run_dir}; continue it with: distillery run --resume {run_dir}", quiet)
            elif ours:
                shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _runner(cfg: Config):
    """Classification (text or images), or language modelling of a corpus (data.task: clm or mlm)."""
    if cfg.data.task in ("clm", "mlm"):
        from .lm.run import run_clm

        return run_clm
    return _run


def _last_ckpt(run_dir: Path, fresh: bool) -> str | None:
    last = run_dir / "checkpoints" / "last.ckpt"
    return str(last) if not fresh and last.is_file() else None


def type_needs_teacher(term_name: str) -> bool:
    return bool(TERMS[term_name].needs_teacher)


def _run(cfg: Config, run_dir: Path, term_spec, needs_teacher: bool, bf16: bool, quiet: bool,
         t_start: float, ckpt_path: str | None = None, writes: bool = True) -> dict[str, Any]:
    tc = cfg.train
    if writes:
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # for --resume
    _log(f"reading data from {cfg.data.source}", quiet)
    data = load_task_data(cfg.data, seed=tc.seed)
    if data.num_classes < 2:
        raise DistilleryError(f"data.source {cfg.data.source}: {data.num_classes} class in column "
                              f"{cfg.data.label_column!r}; classification needs at least two")
    for note in data.notes:
        _log(f"note: {note}", quiet)
    if data.transfer is not None:
        _log(f"unlabelled transfer set: {len(data.transfer)} examples (teacher-driven terms only)", quiet)
    _log(f"{data.modality} task, {data.num_classes} classes; train {len(data.train)}, "
         f"validation {len(data.val) if data.val is not None else 0}, test {len(data.test)}", quiet)

    teacher: Network | None = None
    if needs_teacher:
        assert cfg.teacher is not None
        if not cfg.teacher.model.startswith(("hf:", "timm:", "torchvision:")) and not cfg.teacher.weights:
            raise DistilleryError(f"teacher.model {cfg.teacher.model} is a built-in architecture without "
                                  "pre-trained weights: set teacher.weights")
        teacher = create_model(cfg.teacher.model, data.num_classes, pretrained=True, weights=cfg.teacher.weights,
                               **cfg.teacher.kwargs)
        teacher._is_teacher = True  # type: ignore[attr-defined]
        if teacher.modality != data.modality:
            raise DistilleryError(f"teacher.model {cfg.teacher.model} is a {teacher.modality} model but the data "
                                  f"is {data.modality}")
        teacher.eval().requires_grad_(False)
        teacher.to(compute_device(tc.accelerator))  # head, features and cache are prepared where training runs
    tok = _tokenizers(cfg, needs_teacher) if data.modality == "text" else None
    student = _build_student(cfg, data, tok)
    if data.modality == "text":
        for net, role in ((teacher, "teacher"), (student, "student")):
            limit = getattr(net, "max_positions", None)
            if limit is not None and cfg.data.max_length > limit:
                spec = cfg.teacher.model if role == "teacher" and cfg.teacher else cfg.student.model
                raise DistilleryError(f"data.max_length {cfg.data.max_length} is more than the {role} {spec} can "
                                      f"embed ({limit} positions); set data.max_length to at most {limit}")
    if tc.channels_last and data.modality == "image":
        student.set_channels_last()
        if teacher is not None:
            teacher.set_channels_last()
    augment = _augments(cfg, data.modality)
    cache_plan = _cache_plan(cfg, term_spec, data.modality, augment, bf16, quiet) if teacher is not None else None
    loaders = _Loaders(cfg, data, tok, views=cache_plan.views if cache_plan is not None else 0)
    if len(loaders.train) == 0:
        raise DistilleryError("data: the training split is empty")

    meter = FlopMeter()
    prior_s = 0.0  # compute spent before the first step (teacher head, cache build), charged to the budget
    teacher_report: dict[str, Any] | None = None
    # preparing the teacher (head training, cache build) must not move the run's random stream: the student's
    # projectors, dropout and everything after are then the same whether the head or cache were built or reused
    rng_state = torch.get_rng_state()
    teacher_out = None
    detach_teacher = None
    if teacher is not None:
        detach_teacher = meter.attach(teacher)  # teacher forward FLOPs, booked to the phase of the moment
        assert cfg.teacher is not None
        prep = {"spec": cfg.teacher.model, "weights_file": cfg.teacher.weights, "train": data.train.fingerprint(),
                "val": data.val.fingerprint() if data.val is not None else None, "max_length": cfg.data.max_length,
                "input": teacher.input_spec(), "augment": loaders.augment,
                "transfer": data.transfer.fingerprint() if data.transfer is not None else None}
        t0 = time.perf_counter()
        with meter.in_phase("teacher_head"):
            head = prepare_head(teacher, cfg.teacher.head, prep,
                                {"train_eval": loaders.train_eval, "val": loaders.val, "train_aug": loaders.train},
                                data.num_classes, epochs=cfg.teacher.head_epochs, lr=cfg.teacher.head_lr,
                                cache_dir=cfg.teacher.cache_dir, progress=tc.progress, bf16=bf16, meter=meter,
                                notify=lambda m: _log(f"note: {m}", quiet),
                                seed=cfg.data.seed if cfg.data.seed is not None else tc.seed)  # one teacher per split
        teacher.eval().requires_grad_(False)
        if head.reused and head.mode != "pretrained":  # charged what it cost when it was made
            meter.by_phase["teacher_head"] = float(head.info.get("flops") or 0.0)
            prior_s += float(head.info.get("seconds") or 0.0)
        else:
            prior_s += time.perf_counter() - t0
        if head.mode != "pretrained":
            _log(f"teacher head: {head.mode} ({'reused from ' + str(head.path) if head.reused else 'trained'})",
                 quiet)
        cache_report = None
        if cache_plan is not None:
            with meter.in_phase("cache_build"):
                teacher_out, cache_report = _open_teacher_cache(cfg, cache_plan, teacher, data, loaders, tok, bf16,
                                                                quiet, flops=lambda: meter.by_phase["cache_build"])
            if cache_report.build_flops is not None:  # the whole build's cost, also when reused or resumed
                meter.by_phase["cache_build"] = float(cache_report.build_flops)
            prior_s += cache_report.total_build_s
        else:
            teacher_out = LiveTeacher(teacher, bf16=bf16)
        teacher_report = {"spec": cfg.teacher.model, "accuracy": _teacher_test_accuracy(cfg, teacher, data, loaders,
                                                                                        bf16),
                          "params": count_params(teacher), "head": head.mode, "head_reused": head.reused,
                          "head_info": {k: v for k, v in head.info.items() if k != "key"},
                          "outputs": "cached" if cache_report is not None else "live",
                          "cache": cache_report.as_dict() if cache_report is not None else None,
                          "prepare_time_s": round(time.perf_counter() - t0, 2)}
        _log(f"teacher test accuracy {teacher_report['accuracy']:.4f} ({teacher_report['params']:,} params, "
             f"outputs {teacher_report['outputs']})", quiet)

    torch.set_rng_state(rng_state)
    ctx = TermContext(student_dim=student.embed_dim, teacher_dim=teacher.embed_dim if teacher is not None else None,
                      num_classes=data.num_classes, temperature=cfg.distill.temperature,
                      projector=cfg.distill.projector, proj_dim=cfg.distill.proj_dim,
                      num_train=len(data.student_train),
                      teacher_head=teacher.get_head() if teacher is not None else None)
    loss_set = build_loss_set(term_spec, ctx)
    # optional Features (q/k/v hooks, eager attention) are computed only when a term needs them
    _request_features(student, loss_set.needs_student)
    if teacher is not None:
        _request_features(teacher, loss_set.needs_teacher)
    probe = _probe_batch(loaders)
    s_probe = _probe(student, probe)
    t_probe = _probe(teacher, probe) if teacher is not None else None
    check_requirements(loss_set, s_probe.available(), t_probe.available() if t_probe is not None else None,
                       f"student {cfg.student.model}", f"teacher {cfg.teacher.model}" if cfg.teacher else "")
    for term in loss_set.terms.values():  # shape-dependent parts and checks, before the optimizer exists
        prepare = getattr(term, "prepare", None)
        if prepare is not None:
            prepare(s_probe, t_probe, probe)

    from .training import DistillationModule, fit
    from .training.compute import ComputeTracker

    if tc.compile:
        student.compile()  # in place: parameter names and checkpoints are unchanged

    eval_names = (["val"] if loaders.val is not None else []) + ["test"]
    eval_loaders = [x for x in (loaders.val, loaders.test) if x is not None]
    module = DistillationModule(student, loss_set, teacher_out, tc, len(loaders.train), eval_names)
    tracker = ComputeTracker(meter, tc.budget, prior_s)
    module.tracker = tracker
    module.diffaugment = cfg.data.diffaugment if data.modality == "image" else None
    from .training.distributed import GATHERABLE

    needs = loss_set.needs_student | loss_set.needs_teacher
    module.gather = cfg.distill.gather and needs <= GATHERABLE
    if cfg.distill.gather and not module.gather and (tc.devices not in (1, "1") or tc.num_nodes > 1):
        _log(f"note: the loss terms need {', '.join(sorted(needs - GATHERABLE))}, which are not gathered across "
             "processes: every process computes the loss on its own part of the batch", quiet)
    _log(f"training student {cfg.student.model} ({count_params(student):,} params) with "
         f"{' + '.join(f'{w:g}*{n}' for n, (w, _) in term_spec.items())} for "
         + (f"up to {tc.epochs} epochs within the budget {tc.budget.describe()}" if tc.budget else
            f"{tc.epochs} epochs"), quiet)
    t_train = time.perf_counter()
    try:
        ckpt = fit(module, loaders.train, eval_loaders, tc, run_dir, extra_callbacks=[tracker], ckpt_path=ckpt_path)
    finally:
        meter.close_all()
        if detach_teacher is not None:
            detach_teacher()
    history = module.history
    train_time = time.perf_counter() - t_train
    if not writes:  # not rank 0: its part of training is done; rank 0 evaluates and writes
        return {"history": history}
    for net in (student, teacher):  # evaluate and time the plain networks (the student as it is saved)
        if net is not None:
            _request_features(net, set())

    best_path = ckpt.best_model_path if ckpt is not None else None
    last_test = history[-1].get("test/acc") if history else None
    if best_path:
        state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    student.eval().to(compute_device(tc.accelerator))  # Lightning hands the module back on the CPU
    logits = compute_features(student, loaders.test, {"logits"}, "student on test", progress=False,
                              side="student")["logits"]
    test_acc = _accuracy(logits, data.test.labels)
    test_hist = [h["test/acc"] for h in history if "test/acc" in h]
    _save_student(run_dir, cfg, student, data, tok)
    metrics: dict[str, Any] = {
        "teacher": teacher_report,
        "student": {"spec": cfg.student.model, "accuracy": test_acc,
                    "best_accuracy": max(test_hist) if test_hist else test_acc,
                    "last_accuracy": last_test,
                    "selected_by": "val/acc" if best_path else "last epoch (no validation split)",
                    "params": count_params(student),
                    "latency_ms_per_sample": round(_latency_ms(student, loaders.test, bf16=bf16), 4)},
        "train": {"method": cfg.distill.method, "terms": {n: w for n, (w, _) in term_spec.items()},
                  "epochs": tc.epochs, "steps": module.global_step,
                  "train_time_s": round(train_time + tracker.fit_s_before, 2),  # every segment of a resumed run
                  "wall_time_s": round(time.perf_counter() - t_start, 2), "seed": tc.seed,
                  "train_size": len(data.train),
                  "transfer_size": len(data.transfer) if data.transfer is not None else 0,
                  "synthetic_size": len(data.synthetic) if data.synthetic is not None else 0,
                  "effective_batch_size": tc.batch_size * tc.accumulate_grad_batches * module.trainer.world_size,
                  "resumed_from": ckpt_path},
        "compute": _compute_report(meter, tracker, tc, cfg, bf16, time.perf_counter() - t_start, student, teacher,
                                   probe),
        "history": history,
    }
    if isinstance(teacher_out, LiveTeacher) and teacher_report is not None:
        teacher_report["live_forward_s"] = round(teacher_out.forward_s, 3)
    if teacher is not None and teacher_report is not None:
        teacher_report["latency_ms_per_sample"] = round(_latency_ms(teacher, loaders.test, bf16=bf16), 4)
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    _log(f"student test accuracy {test_acc:.4f} (best over epochs {metrics['student']['best_accuracy']:.4f}); "
         f"run written to {run_dir}", quiet)
    return metrics


def _forward_flops_per_sample(net: Network | None, probe: dict[str, Any]) -> float | None:
    """Inference FLOPs per sample (eval, no grad) on the probe batch's input shape."""
    if net is None:
        return None
    flops, _ = count_flops(lambda: _probe(net, probe))
    return flops / max(1, int(probe["label"].shape[0]))


def _compute_report(meter: FlopMeter, tracker, tc, cfg: Config, bf16: bool, wall_s: float, student: Network,
                    teacher: Network | None, probe: dict[str, Any]) -> dict[str, Any]:
    """``metrics.json["compute"]``: FLOPs per phase, totals, wall time, MFU and what ended training."""
    from .teacher.head import cache_root

    p = meter.by_phase
    teacher_flops = p.get("teacher_head", 0.0) + p.get("cache_build", 0.0) + p.get("teacher_live", 0.0)
    student_flops = p.get("student_train", 0.0)
    device = compute_device(tc.accelerator)
    peak, source = peak_flops(device, torch.bfloat16 if bf16 else torch.float32,
                              cache_root(cfg.teacher.cache_dir if cfg.teacher else None), tc.peak_flops)
    total = teacher_flops + student_flops
    return {"teacher_flops": teacher_flops, "student_flops": student_flops, "total_flops": total,
            "phases": {k: v for k, v in p.items()}, "wall_time_s": round(wall_s, 2),
            "compute_time_s": round(tracker.compute_s, 2),
            "mfu": total / (tracker.compute_s * peak) if tracker.compute_s > 0 and peak > 0 else None,
            "peak_flops": peak, "peak_source": source, "steps": tracker.steps, "ended_by": tracker.ended_by,
            "budget": tc.budget.model_dump(exclude_none=True) if tc.budget else None,
            "budget_spent": round(tracker.spent(), 4) if tc.budget else None,
            "student_forward_flops_per_sample": _forward_flops_per_sample(student, probe),
            "teacher_forward_flops_per_sample": _forward_flops_per_sample(teacher, probe)}


CACHEABLE = {"logits", "embedding"}
CACHEABLE_IMAGE = CACHEABLE | {"hidden_states"}  # fixed per-sample shapes for CNNs; text states vary in length


def _cache_plan(cfg: Config, term_spec, modality: str, augment: bool, bf16: bool,
                quiet: bool) -> CacheSettings | None:
    """What the teacher-output cache stores for this run, or None for a live teacher (off, or features that do
    not have one shape per sample)."""
    assert cfg.teacher is not None
    if cfg.teacher.cache == "off":
        return None
    if cfg.data.diffaugment is not None and modality == "image":
        _log("note: teacher outputs are computed live: data.diffaugment changes the inputs at every step", quiet)
        return None
    need = set().union(*(TERMS[n].needs_teacher for n, (w, _) in term_spec.items() if w != 0))
    if not need:
        return None
    allowed = CACHEABLE_IMAGE if modality == "image" else CACHEABLE
    if not need <= allowed:
        _log(f"note: teacher outputs are computed live: {', '.join(sorted(need - allowed))} cannot be cached for "
             f"{modality} inputs (the cache holds {', '.join(sorted(allowed))})", quiet)
        return None
    views = cfg.teacher.cache_views or (cfg.train.epochs if augment else 1)
    dtype = cfg.teacher.cache_dtype if cfg.teacher.cache_dtype != "auto" else ("bf16" if bf16 else "fp32")
    return CacheSettings(features=tuple(sorted(need)), views=views if augment else 1, dtype=dtype,
                         topk=cfg.teacher.cache_topk)


def _open_teacher_cache(cfg: Config, plan: CacheSettings, teacher: Network, data: TaskData, loaders: _Loaders,
                        tok: _Tokenizers | None, bf16: bool, quiet: bool, flops=None):
    """Open (verify, resume or build) the teacher-output cache of this run; returns its reader and report."""
    from .teacher.head import cache_root, weights_fingerprint
    from .training.distributed import launch_shard

    assert cfg.teacher is not None
    tc = cfg.train
    key = {"teacher": cfg.teacher.model, "teacher_weights": weights_fingerprint(teacher),
           "data": data.student_train.fingerprint(), "input": teacher.input_spec(), "max_length": cfg.data.max_length,
           "teacher_tokenizer": None if tok is None else (cfg.teacher.model if tok.teacher is not None
                                                          else tok.student_name),
           "augment": loaders.augment, "seed": tc.seed if loaders.augment else None,
           "features": list(plan.features), "views": plan.views, "dtype": plan.dtype, "topk": plan.topk,
           "bf16_autocast": bf16}
    from .teacher.cache import cache_digest

    root = (Path(cfg.teacher.cache).expanduser() if cfg.teacher.cache != "auto"
            else cache_root(cfg.teacher.cache_dir) / "teacher_outputs" / cache_digest(key))

    def dataset_for_view(view: int):
        if data.modality == "image":
            ds = ImageDataset(data.student_train, augment=loaders.augment, seed=tc.seed)
            ds.set_epoch(view)
            return ds
        return loaders.ds["train_aug"]

    reader, report = open_cache(root, key, plan, len(data.student_train), teacher, dataset_for_view, loaders.collate,
                                tc.eval_batch_size, device_of(teacher), bf16, tc.progress,
                                notify=lambda m: _log(f"note: {m}", quiet), flops=flops, shard=launch_shard())
    _log(f"teacher cache {report.status}: {root} ({report.size_bytes / 2**20:.1f} MiB, {plan.views} view(s)"
         + (f", built in {report.build_s:.1f} s" if report.status != "reused" else "") + ")", quiet)
    return reader, report


def _request_features(net: Network, names: set[str]) -> None:
    request = getattr(net, "request_features", None)
    if request is not None:
        request(set(names))


def _probe_batch(loaders: _Loaders) -> dict[str, Any]:
    """Two test samples, for the forward passes that check (and shape) what the loss terms get."""
    batch = next(iter(loaders.test))
    return {k: ({n: x[:2] for n, x in v.items()} if isinstance(v, dict) else v[:2]) for k, v in batch.items()}


def _probe(net: Network, batch: dict[str, Any]):
    """The Features a network actually returns (one real forward pass, eval mode, no grad)."""
    side = "teacher" if getattr(net, "_is_teacher", False) else "student"
    was = net.training
    net.eval()
    device = device_of(net)
    with torch.no_grad():
        out = net({k: v.to(device) for k, v in batch[side].items()})
    net.train(was)
    return out


def _save_student(run_dir: Path, cfg: Config, student: Network, data: TaskData, tok: _Tokenizers | None) -> None:
    from safetensors.torch import save_file

    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    sd = {k: v.detach().cpu().contiguous() for k, v in student.state_dict().items()}
    digest = write_with_hash(run_dir / "student.safetensors", lambda tmp: save_file(sd, str(tmp)))
    kwargs = dict(cfg.student.kwargs)
    if tok is not None:
        tok.student.save_pretrained(str(run_dir / "tokenizer"))
        if cfg.student.model in TEXT_BUILTINS_NEED_VOCAB:
            kwargs.setdefault("vocab_size", len(tok.student))
            kwargs.setdefault("pad_token_id", tok.student.pad_token_id or 0)
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
    """Re-evaluate a run's student on the test split of the run's data."""
    d = Path(run_dir)
    cfg_path = d / "config.yaml"
    if not cfg_path.is_file():
        raise DistilleryError(f"{d}: no config.yaml; not a run directory")
    cfg = build_config(_run_config(d), origin=str(cfg_path))
    net, meta, tok = load_student(d)
    data = load_task_data(cfg.data, seed=cfg.train.seed)
    if data.modality == "text":
        ids = tokenize(tok, data.test.inputs, meta["max_length"])
        loader = make_loader(TextDataset(data.test, ids), cfg.train.eval_batch_size, False, 0, 0,
                             TextCollator(tok.pad_token_id or 0))
    else:
        loader = make_loader(ImageDataset(data.test), cfg.train.eval_batch_size, False, 0, 0, collate_images)
    logits = compute_features(net, loader, {"logits"}, "evaluating", progress=not quiet, side="student")["logits"]
    _finite_or_refuse(logits, d)
    return {"accuracy": _accuracy(logits, data.test.labels), "num_test": len(data.test)}


def _finite_or_refuse(logits: torch.Tensor, run_dir: str | Path) -> None:
    """NaN or Inf outputs are never reported as predictions or scores (nor printed as JSON)."""
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits)).any(-1).sum())
        raise DistilleryError(f"the student of {run_dir} gives non-finite outputs (NaN/Inf) for {bad} of "
                              f"{logits.shape[0]} inputs; its weights are damaged or diverged: retrain it")


def _looks_like_path(x: str) -> bool:
    """A single word with a file extension or a folder separator, e.g. ``inputs.txt`` or ``data/cat.png``."""
    return " " not in x.strip() and (os.sep in x or os.path.splitext(x)[1].lower() in (
        ".txt", ".csv", ".tsv", ".json", ".jsonl", ".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"))


def predict(run_dir: str | Path, inputs: list[str]) -> list[dict[str, Any]]:
    """Predict labels for texts (text runs) or image paths (image runs) with a run's student."""
    net, meta, tok = load_student(run_dir)
    if meta["modality"] == "text":
        for x in inputs:
            if _looks_like_path(x) and not os.path.exists(x):
                _log(f"note: {x!r} is not an existing file; it is classified as the text itself")
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
    _finite_or_refuse(logits, run_dir)
    probs = logits.softmax(-1)
    names = meta["class_names"]
    return [{"input": x, "label": names[int(p.argmax())], "confidence": round(float(p.max()), 4)}
            for x, p in zip(inputs, probs, strict=True)]
