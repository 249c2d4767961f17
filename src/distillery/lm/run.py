"""A ``clm`` or ``mlm`` run (the masked-LM specifics: :mod:`.mlm`). ``clm``: pre-train a causal LM student on a
text corpus, from a teacher's next-token distributions
(Busbridge et al. 2025: pure distillation, lambda = 1, T = 1, forward KL; top-k teacher logits lose little when
mixed with some next-token cross-entropy) or supervised without a teacher (``--method scratch``), so that
teachers of several sizes can be made from a local corpus.

The teacher's logits come live or from the teacher-output cache (``teacher.cache_topk: k`` stores the top-k
logits in fp16 with the remaining mass). The loss terms are the classification terms applied per token: ``ce``
(next-token cross-entropy), ``kd`` (forward KL), ``rkl`` (reverse KL), ``jsd`` (generalized JSD).

``mlm`` (Bui et al. 2024): the same loop on masked sequences; ``ce``/``kd`` apply at the masked positions, and the
``tinybert`` and ``minilm`` terms use the hidden states and q/k/v of both networks. The teacher always runs live
(its hidden states and relations are not cached) and its forward FLOPs count toward ``train.budget``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from ..compute import FlopMeter
from ..config import Config
from ..errors import DistilleryError
from ..features import ON_REQUEST
from ..fileio import atomic_write_text
from ..losses.terms import TermContext, build_loss_set
from ..teacher import LiveTeacher
from ..teacher.cache import CacheSettings, open_cache
from ..teacher.outputs import device_of
from ..training.distributed import compute_device
from .corpus import BlockDataset, collate_blocks, read_corpus, split_blocks, token_blocks
from .mlm import MaskedBlocks, collate_masked, create_masked_lm
from .models import CausalLM, check_vocabularies, create_causal_lm

FULL_LOGITS_CACHE_LIMIT = 2 * 2**30  # bytes; above it (without top-k) the teacher runs live


def _tokenizer(cfg: Config, side: str = "student"):
    """The student's tokenizer (student.tokenizer, else the teacher's), or the teacher's (its model folder)."""
    from ..models.hf import load_tokenizer

    teacher_dir = cfg.teacher.model[3:] if cfg.teacher and cfg.teacher.model.startswith("hf:") else None
    name = teacher_dir if side == "teacher" else (cfg.student.tokenizer or teacher_dir)
    if name is None:
        raise DistilleryError(f"student.tokenizer: a {cfg.data.task} run without an hf: teacher needs the "
                              "tokenizer (a folder or Hub id)")
    return load_tokenizer(name)


@torch.no_grad()
def _mean_ce(net: CausalLM, loader, bf16: bool) -> float:
    from ..teacher.outputs import autocast_ctx

    was = net.training
    net.eval()
    device = device_of(net)
    total, n = 0.0, 0
    for batch in loader:
        with autocast_ctx(device, bf16):
            logits = net({k: v.to(device) for k, v in batch["student"].items()}).logits
        labels = batch["label"].to(device).flatten()  # a masked LM: already the rows of its masked positions
        total += float(torch.nn.functional.cross_entropy(logits.float().reshape(len(labels), -1), labels,
                                                         reduction="sum"))
        n += len(labels)
    net.train(was)
    return total / max(1, n)


def run_clm(cfg: Config, run_dir: Path, term_spec, needs_teacher: bool, bf16: bool, quiet: bool, t_start: float,
            ckpt_path: str | None = None, writes: bool = True) -> dict[str, Any]:
    from ..api import _compute_report, _log
    from ..data.batching import make_loader
    from ..training import DistillationModule, fit
    from ..training.compute import ComputeTracker
    from ..training.distributed import launch_shard

    tc, block = cfg.train, cfg.data.max_length
    if writes:
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    mlm = cfg.data.task == "mlm"
    create = create_masked_lm if mlm else create_causal_lm
    if mlm and block < 8:
        raise DistilleryError(f"data.max_length {block}: an mlm sequence needs at least 8 tokens")
    tok = _tokenizer(cfg)
    _log(f"reading the corpus {cfg.data.source}", quiet)
    # clm: blocks of block + 1 tokens (inputs and shifted targets); mlm: block - 2 tokens between [CLS] and [SEP]
    blocks = token_blocks(read_corpus(cfg.data), tok, block - 3 if mlm else block, cfg.data.max_tokens)
    train_blocks, val_blocks = split_blocks(blocks, cfg.data.val_fraction or 0.05, tc.seed)
    vocab = len(tok)
    _log(f"{cfg.data.task} task: {blocks.numel():,} tokens in {len(blocks)} blocks of {blocks.shape[1]}; train "
         f"{len(train_blocks)}, validation {len(val_blocks)}; vocabulary {vocab}", quiet)
    torch.manual_seed(tc.seed)
    student = create(cfg.student.model, vocab, block, **cfg.student.kwargs)
    teacher = None
    if needs_teacher:
        assert cfg.teacher is not None
        teacher = create(cfg.teacher.model, vocab, block, **cfg.teacher.kwargs).eval().requires_grad_(False)
        teacher.to(compute_device(tc.accelerator))  # its cache and validation CE are computed where training runs
        teacher_tok = tok if cfg.student.tokenizer is None else _tokenizer(cfg, "teacher")
        for note in check_vocabularies(teacher, teacher_tok, student, tok):
            _log(f"note: {note}", quiet)
    if mlm:
        p = cfg.data.mlm_probability
        train_ds, val_ds = (MaskedBlocks(b, tok, vocab, p, tc.seed) for b in (train_blocks, val_blocks))
        collate = collate_masked
    else:
        train_ds, val_ds, collate = BlockDataset(train_blocks), BlockDataset(val_blocks), collate_blocks
    train_loader = make_loader(train_ds, tc.batch_size, True, tc.num_workers, tc.seed, collate)
    val_loader = make_loader(val_ds, tc.eval_batch_size, False, 0, tc.seed, collate)
    if teacher is not None and getattr(teacher, "has_head", True) is False:
        term_spec = _without_logit_terms(term_spec, cfg.teacher.model, quiet)
    ctx = TermContext(student_dim=student.embed_dim, teacher_dim=teacher.embed_dim if teacher else None,
                      num_classes=vocab, temperature=cfg.distill.temperature, num_train=len(train_blocks))
    loss_set = build_loss_set(term_spec, ctx)
    allowed = {"logits", "hidden_states", "qkv"} if mlm else {"logits"}
    bad = (loss_set.needs_student | loss_set.needs_teacher) - allowed
    if bad:
        raise DistilleryError(f"distill: the terms need {', '.join(sorted(bad))}, which a {cfg.data.task} run does "
                              "not provide (clm: ce, kd, rkl, jsd; mlm: also tinybert, minilm)")
    if mlm:  # per-layer q/k/v only when a term asks for them (hooks cost time)
        student.request_features(set(loss_set.needs_student) & ON_REQUEST)
        if teacher is not None:
            teacher.request_features(set(loss_set.needs_teacher) & ON_REQUEST)

    meter = FlopMeter()
    prior_s, teacher_report, teacher_out, detach = 0.0, None, None, None
    if teacher is not None:
        assert cfg.teacher is not None
        detach = meter.attach(teacher)
        k = cfg.teacher.cache_topk
        per_row = (k * 2 + k * 4 + 4) if k else vocab * (2 if bf16 else 4)
        size = len(train_blocks) * block * per_row
        if mlm or cfg.teacher.cache == "off" or (not k and size > FULL_LOGITS_CACHE_LIMIT):
            if mlm:
                _log("note: an mlm teacher runs live (masks differ every epoch; hidden states are not cached)", quiet)
            elif cfg.teacher.cache != "off":
                _log(f"note: full teacher logits would take {size / 2**30:.1f} GiB; the teacher runs live "
                     "(set teacher.cache_topk to cache the top-k logits)", quiet)
            teacher_out = LiveTeacher(teacher, bf16=bf16)
        else:
            from ..teacher.cache import cache_digest
            from ..teacher.head import cache_root, weights_fingerprint

            key = {"task": "clm", "teacher": cfg.teacher.model, "teacher_weights": weights_fingerprint(teacher),
                   "data": str(hash_blocks(train_blocks)), "block": block, "topk": k, "bf16_autocast": bf16,
                   "dtype": "bf16" if bf16 else "fp32"}
            root = (Path(cfg.teacher.cache).expanduser() if cfg.teacher.cache != "auto"
                    else cache_root(cfg.teacher.cache_dir) / "teacher_outputs" / cache_digest(key))
            settings = CacheSettings(features=("logits",), views=1, dtype=key["dtype"], topk=k)
            with meter.in_phase("cache_build"):
                teacher_out, report = open_cache(root, key, settings, len(train_blocks), teacher,
                                                 lambda v: train_ds, collate, tc.eval_batch_size,
                                                 device_of(teacher), bf16, tc.progress,
                                                 notify=lambda m: _log(f"note: {m}", quiet),
                                                 flops=lambda: meter.by_phase["cache_build"], shard=launch_shard())
            if report.build_flops is not None:
                meter.by_phase["cache_build"] = float(report.build_flops)
            prior_s += report.total_build_s
            _log(f"teacher cache {report.status}: {root} ({report.size_bytes / 2**20:.1f} MiB"
                 + (f", top-{k} logits" if k else "") + ")", quiet)
        meter.phase = None
        teacher_report = {"spec": cfg.teacher.model,
                          "val_ce": _mean_ce(teacher, val_loader, bf16) if getattr(teacher, "has_head", True) else None,
                          "params": sum(p.numel() for p in teacher.parameters()),
                          "non_embedding_params": teacher.non_embedding_params(),
                          "outputs": "live" if isinstance(teacher_out, LiveTeacher) else "cached"}
        if teacher_report["val_ce"] is not None:
            _log(f"teacher validation cross-entropy {teacher_report['val_ce']:.4f}", quiet)

    module = DistillationModule(student, loss_set, teacher_out, tc, len(train_loader), ["val"])
    module.monitor = ("val/ce", "min")
    tracker = ComputeTracker(meter, tc.budget, prior_s)
    module.tracker = tracker
    _log(f"training student {cfg.student.model} ({sum(p.numel() for p in student.parameters()):,} params) with "
         f"{' + '.join(f'{w:g}*{n}' for n, (w, _) in term_spec.items())}", quiet)
    t_train = time.perf_counter()
    try:
        ckpt = fit(module, train_loader, [val_loader], tc, run_dir, extra_callbacks=[tracker], ckpt_path=ckpt_path)
    finally:
        meter.close_all()
        if detach is not None:
            detach()
    if not writes:
        return {"history": module.history}
    if ckpt is not None and ckpt.best_model_path:
        module.load_state_dict(torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)["state_dict"])
    student.to(compute_device(tc.accelerator))  # Lightning hands the module back on the CPU
    val_ce = _mean_ce(student, val_loader, bf16)
    student.model.save_pretrained(str(run_dir / "model"))  # loads as a teacher: hf:<run_dir>/model
    tok.save_pretrained(str(run_dir / "model"))
    tokens_per_step = tc.batch_size * block * tc.accumulate_grad_batches * module.trainer.world_size
    probe = collate([train_ds[0]])
    metrics = {
        "task": cfg.data.task,
        "teacher": teacher_report,
        "student": {"spec": cfg.student.model, "val_ce": val_ce,
                    "best_val_ce": min((h["val/ce"] for h in module.history), default=val_ce),
                    "params": sum(p.numel() for p in student.parameters()),
                    "non_embedding_params": student.non_embedding_params(), "model_dir": str(run_dir / "model")},
        "train": {"method": cfg.distill.method, "terms": {n: w for n, (w, _) in term_spec.items()},
                  "epochs": tc.epochs, "steps": module.global_step, "tokens_seen": module.global_step * tokens_per_step,
                  "unique_tokens": int(train_blocks.numel()),
                  "train_time_s": round(time.perf_counter() - t_train + tracker.fit_s_before, 2),
                  "wall_time_s": round(time.perf_counter() - t_start, 2), "seed": tc.seed, "resumed_from": ckpt_path,
                  "effective_batch_size": tc.batch_size * tc.accumulate_grad_batches * module.trainer.world_size},
        # what `distillery plan --fit` reads (Busbridge et al. 2025: non-embedding parameters, tokens, nats/token)
        "scaling": {"student_params": student.non_embedding_params(),
                    "tokens": module.global_step * tokens_per_step, "student_loss": val_ce,
                    "teacher_loss": teacher_report["val_ce"] if teacher_report else None,
                    "teacher_params": teacher_report["non_embedding_params"] if teacher_report else None},
        "compute": _compute_report(meter, tracker, tc, cfg, bf16, time.perf_counter() - t_start, student, teacher,
                                   probe),
        "history": module.history,
    }
    if mlm and cfg.glue is not None:
        metrics["glue"] = _glue(cfg, run_dir, quiet)
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    _log(f"student validation cross-entropy {val_ce:.4f}; run written to {run_dir}", quiet)
    return metrics


def _glue(cfg: Config, run_dir: Path, quiet: bool) -> dict[str, Any]:
    """Fine-tune the saved student on every GLUE task of ``cfg.glue`` (Bui et al. 2024's downstream evaluation);
    finished tasks are kept in ``glue.json`` so an interrupted run does not repeat them."""
    from ..api import _log
    from .glue import finetune_glue

    g = cfg.glue
    assert g is not None
    path = run_dir / "glue.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    bf16 = "bf16" in str(cfg.train.precision)
    for task in g.tasks:
        if task in done:
            continue
        _log(f"GLUE {task}: fine-tuning with lr {', '.join(f'{x:g}' for x in g.lrs)}", quiet)
        done[task] = finetune_glue(run_dir / "model", task, g.source, lrs=tuple(g.lrs), epochs=g.epochs,
                                   batch_size=g.batch_size, max_length=g.max_length, max_train=g.max_train,
                                   seed=cfg.train.seed, bf16=bf16, progress=cfg.train.progress)
        _log(f"GLUE {task}: dev {done[task]['metric']} {100 * done[task]['score']:.1f}", quiet)
        atomic_write_text(path, json.dumps(done, indent=1))
    return done


def _without_logit_terms(term_spec: dict, teacher: str, quiet: bool) -> dict:
    """A teacher without an MLM head gives no token distributions: its logit terms (the ``kd`` of the tinybert and
    minilm presets) are left out with a note; a run with no other teacher term is refused."""
    from ..api import _log
    from ..losses.terms import TERMS

    logit = {n for n, (w, _) in term_spec.items() if w and "logits" in TERMS[n].needs_teacher}
    rest = {n for n, (w, _) in term_spec.items() if w and TERMS[n].needs_teacher and n not in logit}
    if not logit:
        return term_spec
    if not rest:
        raise DistilleryError(f"teacher.model {teacher} has no trained MLM head, so logit distillation "
                              f"({', '.join(sorted(logit))}) cannot use it; use the tinybert or minilm method")
    _log(f"note: teacher {teacher} has no MLM head: {', '.join(sorted(logit))} left out "
         f"({', '.join(sorted(rest))} distil its hidden states)", quiet)
    return {n: v for n, v in term_spec.items() if n not in logit}


def hash_blocks(blocks: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(blocks.contiguous().numpy().tobytes()).hexdigest()[:16]
