"""Language modelling of a text corpus: ``clm`` and ``mlm`` (the building blocks are in :mod:`distillery.lm`).

``clm``: pre-train a causal LM student on a corpus, from a teacher's next-token distributions (Busbridge et al.
2025: pure distillation, lambda = 1, T = 1, forward KL; top-k teacher logits lose little when mixed with some
next-token cross-entropy) or supervised without a teacher (``--method scratch``), so that teachers of several
sizes can be made from a local corpus. The teacher's logits come live or from the teacher-output cache
(``teacher.cache_topk: k`` stores the top-k logits in fp16 with the remaining mass). The loss terms are the
classification terms applied per token: ``ce`` (next-token cross-entropy), ``kd`` (forward KL), ``rkl`` (reverse
KL), ``jsd`` (generalized JSD).

``mlm`` (Bui et al. 2024): the same loop on masked sequences; ``ce``/``kd`` apply at the masked positions, and the
``tinybert`` and ``minilm`` terms use the hidden states and q/k/v of both networks. The teacher always runs live
(its hidden states and relations are not cached) and its forward FLOPs count toward ``train.budget``. The student
is saved as a Hugging Face model folder (``model/``), which loads as a teacher: ``hf:<run_dir>/model``.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import torch

from ..compute.report import compute_report
from ..config import Config
from ..data.batching import make_loader
from ..errors import DistilleryError
from ..features import ON_REQUEST
from ..fileio import atomic_write_text
from ..lm.corpus import BlockDataset, collate_blocks, read_corpus, split_blocks, token_blocks
from ..lm.mlm import MaskedBlocks, collate_masked
from ..lm.models import check_vocabularies
from ..losses import TERMS, LossSet, TermContext
from ..models import create_model
from ..models.hf import load_tokenizer
from ..runtime import autocast_ctx, compute_device, device_of, log, weights_fingerprint
from ..teacher import LiveTeacher
from ..teacher.cache import CacheSettings
from ..teacher.plan import open_teacher_cache
from .base import Prepared, RunState, Task, TeacherPart, register_task

FULL_LOGITS_CACHE_LIMIT = 2 * 2**30  # bytes; above it (without top-k) the teacher runs live


def _tokenizer(cfg: Config, side: str = "student"):
    """The student's tokenizer (student.tokenizer, else the teacher's), or the teacher's (its model folder)."""
    teacher_dir = cfg.teacher.model[3:] if cfg.teacher and cfg.teacher.model.startswith("hf:") else None
    name = teacher_dir if side == "teacher" else (cfg.student.tokenizer or teacher_dir)
    if name is None:
        raise DistilleryError(f"student.tokenizer: a {cfg.data.task} run without an hf: teacher needs the "
                              "tokenizer (a folder or Hub id)")
    return load_tokenizer(name)


@torch.no_grad()
def mean_ce(net, loader, bf16: bool) -> float:
    """Mean next-token (or masked-token) cross-entropy of ``net`` over ``loader``, in nats per token."""
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


def hash_blocks(blocks: torch.Tensor) -> str:
    return hashlib.sha256(blocks.contiguous().numpy().tobytes()).hexdigest()[:16]


def without_logit_terms(term_spec: dict, teacher: str, quiet: bool) -> dict:
    """A teacher without an MLM head gives no token distributions: its logit terms (the ``kd`` of the tinybert and
    minilm presets) are left out with a note; a run with no other teacher term is refused."""
    logit = {n for n, (w, _) in term_spec.items() if w and "logits" in TERMS[n].needs_teacher}
    rest = {n for n, (w, _) in term_spec.items() if w and TERMS[n].needs_teacher and n not in logit}
    if not logit:
        return term_spec
    if not rest:
        raise DistilleryError(f"teacher.model {teacher} has no trained MLM head, so logit distillation "
                              f"({', '.join(sorted(logit))}) cannot use it; use the tinybert or minilm method")
    log(f"note: teacher {teacher} has no MLM head: {', '.join(sorted(logit))} left out "
        f"({', '.join(sorted(rest))} distil its hidden states)", quiet)
    return {n: v for n, v in term_spec.items() if n not in logit}


@register_task("clm", "mlm")
class LanguageModelling(Task):
    name = "language modelling"
    monitor_min = True  # validation cross-entropy selects the best epoch

    def prepare(self, cfg: Config, term_spec: dict, needs_teacher: bool, bf16: bool, quiet: bool) -> Prepared:
        tc, block = cfg.train, cfg.data.max_length
        mlm = cfg.data.task == "mlm"
        if cfg.teacher is not None and isinstance(cfg.teacher.model, list):
            raise DistilleryError(f"teacher.model: data.task {cfg.data.task} takes one teacher, not an ensemble")
        if mlm and block < 8:
            raise DistilleryError(f"data.max_length {block}: an mlm sequence needs at least 8 tokens")
        tok = _tokenizer(cfg)
        log(f"reading the corpus {cfg.data.source}", quiet)
        # clm: blocks of block + 1 tokens (inputs and shifted targets); mlm: block - 2 tokens between [CLS] and [SEP]
        blocks = token_blocks(read_corpus(cfg.data), tok, block - 3 if mlm else block, cfg.data.max_tokens)
        train_blocks, val_blocks = split_blocks(blocks, cfg.data.val_fraction or 0.05, tc.seed)
        vocab = len(tok)
        log(f"{cfg.data.task} task: {blocks.numel():,} tokens in {len(blocks)} blocks of {blocks.shape[1]}; train "
            f"{len(train_blocks)}, validation {len(val_blocks)}; vocabulary {vocab}", quiet)
        torch.manual_seed(tc.seed)
        family = "mlm" if mlm else "clm"
        student = create_model(cfg.student.model, vocab, family=family, block=block, **cfg.student.kwargs)
        teacher = None
        if needs_teacher:
            assert cfg.teacher is not None
            teacher = create_model(cfg.teacher.model, vocab, family=family, block=block, **cfg.teacher.kwargs)
            teacher.eval().requires_grad_(False)
            teacher.to(compute_device(tc.accelerator))  # its cache and validation CE are computed where it trains
            teacher_tok = tok if cfg.student.tokenizer is None else _tokenizer(cfg, "teacher")
            for note in check_vocabularies(teacher, teacher_tok, student, tok):
                log(f"note: {note}", quiet)
        if mlm:
            p = cfg.data.mlm_probability
            train_ds, val_ds = (MaskedBlocks(b, tok, vocab, p, tc.seed) for b in (train_blocks, val_blocks))
            collate = collate_masked
        else:
            train_ds, val_ds, collate = BlockDataset(train_blocks), BlockDataset(val_blocks), collate_blocks
        train_loader = make_loader(train_ds, tc.batch_size, True, tc.num_workers, tc.seed, collate)
        val_loader = make_loader(val_ds, tc.eval_batch_size, False, 0, tc.seed, collate)
        if teacher is not None and getattr(teacher, "has_head", True) is False:
            assert cfg.teacher is not None
            term_spec = without_logit_terms(term_spec, cfg.teacher.model, quiet)
        return Prepared(student, teacher, train_loader, [val_loader], ["val"], term_spec,
                        extra={"tok": tok, "mlm": mlm, "train_blocks": train_blocks, "train_ds": train_ds,
                               "collate": collate, "val_loader": val_loader, "vocab": vocab})

    def teacher_outputs(self, cfg: Config, prep: Prepared, meter, bf16: bool, quiet: bool) -> TeacherPart:
        assert cfg.teacher is not None and prep.teacher is not None
        teacher, x = prep.teacher, prep.extra
        detach = meter.attach(teacher)
        prior_s = 0.0
        k = cfg.teacher.cache_topk
        block = cfg.data.max_length
        per_row = (k * 2 + k * 4 + 4) if k else x["vocab"] * (2 if bf16 else 4)
        size = len(x["train_blocks"]) * block * per_row
        if x["mlm"] or cfg.teacher.cache == "off" or (not k and size > FULL_LOGITS_CACHE_LIMIT):
            if x["mlm"]:
                log("note: an mlm teacher runs live (masks differ every epoch; hidden states are not cached)", quiet)
            elif cfg.teacher.cache != "off":
                log(f"note: full teacher logits would take {size / 2**30:.1f} GiB; the teacher runs live "
                    "(set teacher.cache_topk to cache the top-k logits)", quiet)
            outputs: Any = LiveTeacher(teacher, bf16=bf16)
        else:
            key = {"task": "clm", "teacher": cfg.teacher.model, "teacher_weights": weights_fingerprint(teacher),
                   "data": str(hash_blocks(x["train_blocks"])), "block": block, "topk": k, "bf16_autocast": bf16,
                   "dtype": "bf16" if bf16 else "fp32"}
            settings = CacheSettings(features=("logits",), views=1, dtype=key["dtype"], topk=k)
            outputs, report = open_teacher_cache(cfg, key, settings, len(x["train_blocks"]), teacher,
                                                 lambda v: x["train_ds"], x["collate"], bf16, quiet, meter)
            prior_s += report.total_build_s
        meter.phase = None
        has_head = getattr(teacher, "has_head", True)
        report = {"spec": cfg.teacher.model, "val_ce": mean_ce(teacher, x["val_loader"], bf16) if has_head else None,
                  "params": sum(p.numel() for p in teacher.parameters()),
                  "non_embedding_params": teacher.non_embedding_params(),
                  "outputs": "live" if isinstance(outputs, LiveTeacher) else "cached"}
        if report["val_ce"] is not None:
            log(f"teacher validation cross-entropy {report['val_ce']:.4f}", quiet)
        return TeacherPart(outputs, report, prior_s, detach)

    def term_context(self, cfg: Config, prep: Prepared) -> TermContext:
        t = prep.teacher
        return TermContext(student_dim=prep.student.embed_dim, teacher_dim=t.embed_dim if t is not None else None,
                           num_classes=prep.extra["vocab"], temperature=cfg.distill.temperature,
                           num_train=len(prep.extra["train_blocks"]))

    def check_terms(self, cfg: Config, prep: Prepared, loss_set: LossSet, quiet: bool) -> None:
        mlm = prep.extra["mlm"]
        allowed = {"logits", "hidden_states", "qkv"} if mlm else {"logits"}
        bad = (loss_set.needs_student | loss_set.needs_teacher) - allowed
        if bad:
            raise DistilleryError(f"distill: the terms need {', '.join(sorted(bad))}, which a {cfg.data.task} run "
                                  "does not provide (clm: ce, kd, rkl, jsd; mlm: also tinybert, minilm)")
        if mlm:  # per-layer q/k/v only when a term asks for them (hooks cost time)
            prep.student.request_features(set(loss_set.needs_student) & ON_REQUEST)
            if prep.teacher is not None:
                prep.teacher.request_features(set(loss_set.needs_teacher) & ON_REQUEST)

    def configure(self, cfg: Config, prep: Prepared, module, quiet: bool) -> None:
        module.monitor = ("val/ce", "min")

    def finish(self, prep: Prepared, state: RunState) -> dict[str, Any]:
        cfg, module, bf16, x = state.cfg, state.module, state.bf16, prep.extra
        tc, block, student = cfg.train, cfg.data.max_length, prep.student
        run_dir = state.run_dir
        student.to(compute_device(tc.accelerator))  # Lightning hands the module back on the CPU
        val_ce = mean_ce(student, x["val_loader"], bf16)
        student.model.save_pretrained(str(run_dir / "model"))  # loads as a teacher: hf:<run_dir>/model
        x["tok"].save_pretrained(str(run_dir / "model"))
        tokens_per_step = tc.batch_size * block * tc.accumulate_grad_batches * module.trainer.world_size
        teacher_report = state.teacher.report if state.teacher is not None else None
        metrics: dict[str, Any] = {
            "task": cfg.data.task,
            "teacher": teacher_report,
            "student": {"spec": cfg.student.model, "val_ce": val_ce,
                        "best_val_ce": min((h["val/ce"] for h in module.history), default=val_ce),
                        "params": sum(p.numel() for p in student.parameters()),
                        "non_embedding_params": student.non_embedding_params(), "model_dir": str(run_dir / "model")},
            "train": {**state.train_section(), "tokens_seen": module.global_step * tokens_per_step,
                      "unique_tokens": int(x["train_blocks"].numel()), "resumed_from": state.ckpt_path,
                      "effective_batch_size": state.effective_batch_size()},
            # what `distillery plan --fit` reads (Busbridge et al. 2025: non-embedding parameters, tokens, nats/token)
            "scaling": {"student_params": student.non_embedding_params(),
                        "tokens": module.global_step * tokens_per_step, "student_loss": val_ce,
                        "teacher_loss": teacher_report["val_ce"] if teacher_report else None,
                        "teacher_params": teacher_report["non_embedding_params"] if teacher_report else None},
            "compute": compute_report(state.meter, state.tracker, cfg, bf16, time.perf_counter() - state.t_start,
                                      student, prep.teacher, x["collate"]([x["train_ds"][0]])),
            "history": module.history,
        }
        if x["mlm"] and cfg.glue is not None:
            metrics["glue"] = _glue(cfg, run_dir, state.quiet)
        state.done_line = f"student validation cross-entropy {val_ce:.4f}"
        return metrics


def _glue(cfg: Config, run_dir, quiet: bool) -> dict[str, Any]:
    """Fine-tune the saved student on every GLUE task of ``cfg.glue`` (Bui et al. 2024's downstream evaluation);
    finished tasks are kept in ``glue.json`` so an interrupted run does not repeat them."""
    from ..lm.glue import finetune_glue

    g = cfg.glue
    assert g is not None
    path = run_dir / "glue.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    bf16 = "bf16" in str(cfg.train.precision)
    for task in g.tasks:
        if task in done:
            continue
        log(f"GLUE {task}: fine-tuning with lr {', '.join(f'{x:g}' for x in g.lrs)}", quiet)
        done[task] = finetune_glue(run_dir / "model", task, g.source, lrs=tuple(g.lrs), epochs=g.epochs,
                                   batch_size=g.batch_size, max_length=g.max_length, max_train=g.max_train,
                                   seed=cfg.train.seed, bf16=bf16, progress=cfg.train.progress)
        log(f"GLUE {task}: dev {done[task]['metric']} {100 * done[task]['score']:.1f}", quiet)
        atomic_write_text(path, json.dumps(done, indent=1))
    return done
