"""Classification of texts or images (Farhat & Chen 2024): a task head for the teacher (linear probe or fine-tune),
its outputs cached per augmented view (or live), the student evaluated by test accuracy and saved as safetensors
with ``student.json`` and the tokenizer."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import torch

from ..compute.report import compute_report, latency_ms, probe
from ..config import Config
from ..data import TaskData, load_task_data
from ..data.batching import ImageDataset
from ..data.loaders import Loaders, Tokenizers, augments, load_tokenizers, probe_batch
from ..errors import DistilleryError
from ..features import Features
from ..fileio import verify_hash, write_with_hash
from ..losses import TERMS, LossSet, TermContext, check_requirements
from ..models import Network, count_params, create_model
from ..models.ensemble import Ensemble
from ..runtime import autocast_ctx, cache_root, compute_device, device_of, log, weights_fingerprint
from ..students import TEXT_BUILTINS_NEED_VOCAB, save_student, student_kwargs
from ..teacher import LiveTeacher, compute_features, prepare_head
from ..teacher.head import HeadResult
from ..teacher.plan import cache_plan, open_teacher_cache
from ..training.distributed import GATHERABLE
from .base import Prepared, RunState, Task, TeacherPart, register_task, teacher_bf16

HUB_SOURCES = ("hf:", "timm:", "torchvision:")


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


def request_features(net: Network, names: set[str]) -> None:
    """Optional Features (q/k/v hooks, eager attention) are computed only when a term needs them."""
    request = getattr(net, "request_features", None)
    if request is not None:
        request(set(names))


def _ensemble_head(heads: list) -> HeadResult:
    """One report for the heads of an ensemble's members (no features: the ensemble's logits are not one head's)."""
    return HeadResult(mode="+".join(h.mode for h in heads), reused=all(h.reused for h in heads), path=None,
                      info={"members": [{"mode": h.mode, "reused": h.reused,
                                         **{k: v for k, v in h.info.items() if k != "key"}} for h in heads]})


@register_task("auto", "text", "image")
class Classification(Task):
    name = "classification"

    # -- data and networks -------------------------------------------------------------------------------------
    def prepare(self, cfg: Config, term_spec: dict, needs_teacher: bool, bf16: bool, quiet: bool) -> Prepared:
        tc = cfg.train
        log(f"reading data from {cfg.data.source}", quiet)
        data = load_task_data(cfg.data, seed=tc.seed)
        if data.num_classes < 2:
            raise DistilleryError(f"data.source {cfg.data.source}: {data.num_classes} class in column "
                                  f"{cfg.data.label_column!r}; classification needs at least two")
        for note in data.notes:
            log(f"note: {note}", quiet)
        if data.transfer is not None:
            log(f"unlabelled transfer set: {len(data.transfer)} examples (teacher-driven terms only)", quiet)
        log(f"{data.modality} task, {data.num_classes} classes; train {len(data.train)}, "
            f"validation {len(data.val) if data.val is not None else 0}, test {len(data.test)}", quiet)
        teacher = self._teacher(cfg, data) if needs_teacher else None
        tok = load_tokenizers(cfg, needs_teacher) if data.modality == "text" else None
        student = self._student(cfg, data, tok)
        if data.modality == "text":
            for net, role in ((teacher, "teacher"), (student, "student")):
                limit = getattr(net, "max_positions", None)
                if limit is not None and cfg.data.max_length > limit:
                    spec = cfg.teacher.spec if role == "teacher" and cfg.teacher else cfg.student.model
                    raise DistilleryError(f"data.max_length {cfg.data.max_length} is more than the {role} {spec} "
                                          f"can embed ({limit} positions); set data.max_length to at most {limit}")
        if tc.channels_last and data.modality == "image":
            student.set_channels_last()
            if teacher is not None:
                teacher.set_channels_last()
        augment = augments(cfg, data.modality)
        need = set().union(*(TERMS[n].needs_teacher for n, (w, _) in term_spec.items() if w != 0))
        plan = cache_plan(cfg, need, data.modality, augment, teacher_bf16(cfg), quiet) if teacher is not None else None
        loaders = Loaders(cfg, data, tok, views=plan.views if plan is not None else 0)
        if len(loaders.train) == 0:
            raise DistilleryError("data: the training split is empty")
        # the test split is scored after every epoch only when asked (or when there is no validation split, whose
        # per-epoch evaluation the history, budgets and curves are built on); otherwise once, at the end
        every = tc.test_every_epoch or loaders.val is None
        eval_names = (["val"] if loaders.val is not None else []) + (["test"] if every else [])
        eval_loaders = [x for x in (loaders.val, loaders.test if every else None) if x is not None]
        return Prepared(student, teacher, loaders.train, eval_loaders, eval_names, term_spec,
                        extra={"data": data, "tok": tok, "loaders": loaders, "plan": plan})

    @staticmethod
    def _teacher(cfg: Config, data: TaskData) -> Network:
        assert cfg.teacher is not None
        members = []
        for spec, weights in cfg.teacher.members():
            if not spec.startswith(HUB_SOURCES) and not weights:
                raise DistilleryError(f"teacher.model {spec} is a built-in architecture without pre-trained "
                                      "weights: set teacher.weights")
            net = create_model(spec, data.num_classes, pretrained=True, weights=weights, **cfg.teacher.kwargs)
            if net.modality != data.modality:
                raise DistilleryError(f"teacher.model {spec} is a {net.modality} model but the data is "
                                      f"{data.modality}")
            members.append(net)
        teacher = members[0] if len(members) == 1 else Ensemble(members, cfg.teacher.member_weights,
                                                                cfg.teacher.embedding_member)
        teacher.eval().requires_grad_(False)
        teacher.to(compute_device(cfg.train.accelerator))  # head, features and cache are prepared where it trains
        return teacher

    @staticmethod
    def _student(cfg: Config, data: TaskData, tok: Tokenizers | None) -> Network:
        if tok is not None and cfg.student.model in TEXT_BUILTINS_NEED_VOCAB:
            given, n_tok = cfg.student.kwargs.get("vocab_size"), len(tok.student)
            if given is not None and given < n_tok:
                raise DistilleryError(f"student.kwargs.vocab_size={given} is smaller than the tokenizer's {n_tok} "
                                      f"tokens ({tok.student_name}); the student cannot embed its ids")
        kwargs = student_kwargs(cfg, tok)
        student = create_model(cfg.student.model, data.num_classes, pretrained=False, weights=cfg.student.weights,
                               **kwargs)
        if student.modality != data.modality:
            raise DistilleryError(f"student.model {cfg.student.model} is a {student.modality} model but the data is "
                                  f"{data.modality}")
        if data.modality == "text" and hasattr(student, "encoder"):
            emb = student.encoder.get_input_embeddings().num_embeddings
            assert tok is not None
            if emb < len(tok.student):
                raise DistilleryError(f"student tokenizer {tok.student_name} has {len(tok.student)} tokens but the "
                                      f"student embeds only {emb}; set student.tokenizer to one that fits")
        return student

    # -- the teacher ---------------------------------------------------------------------------------------------
    def teacher_outputs(self, cfg: Config, prep: Prepared, meter, bf16: bool, quiet: bool) -> TeacherPart:
        assert cfg.teacher is not None and prep.teacher is not None
        teacher, tc = prep.teacher, cfg.train
        data: TaskData = prep.extra["data"]
        loaders: Loaders = prep.extra["loaders"]
        detach = meter.attach(teacher)  # teacher forward FLOPs, booked to the phase of the moment
        prior_s = 0.0  # compute spent before the first step (teacher head, cache build), charged to the budget
        t0 = time.perf_counter()
        heads = []
        members = list(teacher.members) if isinstance(teacher, Ensemble) else [teacher]
        spent = 0.0  # FLOPs of the heads: as counted now, or as stored with a reused head
        for i, ((spec, weights), net) in enumerate(zip(cfg.teacher.members(), members, strict=True)):
            key = {"spec": spec, "weights_file": weights, "train": data.train.fingerprint(),
                   "val": data.val.fingerprint() if data.val is not None else None, "max_length": cfg.data.max_length,
                   "input": net.input_spec(), "augment": loaders.augment,
                   "transfer": data.transfer.fingerprint() if data.transfer is not None else None}
            meter.by_phase["teacher_head"] = 0.0
            t_member = time.perf_counter()
            own = meter.attach(net) if net is not teacher else None  # an ensemble's member, counted on its own
            try:
                with meter.in_phase("teacher_head"):
                    splits = {"train_eval": loaders.train_eval, "val": loaders.val, "train_aug": loaders.head_train}
                    head = prepare_head(net, cfg.teacher.head, key, splits,
                                        data.num_classes, epochs=cfg.teacher.head_epochs, lr=cfg.teacher.head_lr,
                                        cache_dir=cfg.teacher.cache_dir, progress=tc.progress, bf16=bf16,
                                        meter=meter, notify=lambda m: log(f"note: {m}", quiet),
                                        margin=cfg.teacher.head_margin,
                                        seed=cfg.data.seed if cfg.data.seed is not None else tc.seed)
            finally:
                if own is not None:
                    own()
            net.eval().requires_grad_(False)
            if head.reused and head.mode != "pretrained":  # charged what it cost when it was made
                spent += float(head.info.get("flops") or 0.0)
                prior_s += float(head.info.get("seconds") or 0.0)
            else:
                spent += meter.by_phase["teacher_head"]
                prior_s += time.perf_counter() - t_member
            if len(members) > 1:
                log(f"teacher member {i} ({spec}): head {head.mode}", quiet)
            heads.append(head)
        meter.by_phase["teacher_head"] = spent
        head = heads[0] if len(heads) == 1 else _ensemble_head(heads)
        if head.mode != "pretrained":
            log(f"teacher head: {head.mode} ({'reused from ' + str(head.path) if head.reused else 'trained'})",
                quiet)
        cache_report = None
        plan = prep.extra["plan"]
        if plan is not None:
            outputs, cache_report = open_teacher_cache(cfg, self._cache_key(cfg, prep, plan, bf16), plan,
                                                       len(data.student_train), teacher, self._view_dataset(cfg, prep),
                                                       loaders.collate, bf16, quiet, meter,
                                                       known=self._known(teacher, head, plan, loaders, bf16))
            prior_s += cache_report.total_build_s
        else:
            outputs = LiveTeacher(teacher, bf16=bf16)
        report = {"spec": cfg.teacher.spec, "precision": "bf16" if bf16 else "fp32",
                  "accuracy": self._teacher_accuracy(cfg, teacher, data, loaders, bf16),
                  "params": count_params(teacher), "head": head.mode, "head_reused": head.reused,
                  "head_info": {k: v for k, v in head.info.items() if k != "key"},
                  "outputs": "cached" if cache_report is not None else "live",
                  "cache": cache_report.as_dict() if cache_report is not None else None,
                  "prepare_time_s": round(time.perf_counter() - t0, 2)}
        log(f"teacher test accuracy {report['accuracy']:.4f} ({report['params']:,} params, "
            f"outputs {report['outputs']})", quiet)
        return TeacherPart(outputs, report, prior_s, detach)

    @staticmethod
    def _known(teacher: Network, head, plan, loaders: Loaders, bf16: bool):
        """The cache rows the head's preparation already computed: the linear probe ran the teacher over the
        un-augmented labelled training split, which (without augmentation) is the first rows of the cache's one
        view; its embeddings and, through the new head, its logits are stored instead of a second pass."""
        emb = head.features.get("train_eval", {}).get("embedding")
        plain = type(teacher).forward is Network.forward  # logits = head(embedding), nothing else
        if emb is None or not plain or plan.views != 1 or loaders.augment or not set(plan.features) <= {
                "logits", "embedding"}:
            return None
        lin = teacher.get_head()
        device = device_of(teacher)

        @torch.no_grad()
        def known(view: int, rows: list[int]) -> Features | None:
            if rows[-1] >= len(emb):  # the transfer set's rows: the teacher has not seen them
                return None
            e = emb[rows]
            with autocast_ctx(device, bf16):
                logits = lin(e.to(device))
            return Features(embedding=e, logits=logits)

        return known

    @staticmethod
    def _cache_key(cfg: Config, prep: Prepared, plan, bf16: bool) -> dict[str, Any]:
        assert cfg.teacher is not None and prep.teacher is not None
        data, loaders, tok = prep.extra["data"], prep.extra["loaders"], prep.extra["tok"]
        return {"teacher": cfg.teacher.spec, "teacher_weights": weights_fingerprint(prep.teacher),
                "data": data.student_train.fingerprint(), "input": prep.teacher.input_spec(),
                "max_length": cfg.data.max_length,
                "teacher_tokenizer": None if tok is None else (cfg.teacher.spec if tok.teacher is not None
                                                               else tok.student_name),
                "augment": loaders.augment, "seed": cfg.train.seed if loaders.augment else None,
                "features": list(plan.features), "views": plan.views, "dtype": plan.dtype, "topk": plan.topk,
                "bf16_autocast": bf16, "embedding_member": cfg.teacher.embedding_member,
                **({"mixup": cfg.data.mixup} if cfg.data.mixup > 0 else {})}

    @staticmethod
    def _view_dataset(cfg: Config, prep: Prepared):
        data, loaders = prep.extra["data"], prep.extra["loaders"]

        def dataset_for_view(view: int):
            if data.modality == "image":
                ds = ImageDataset(data.student_train, augment=loaders.augment, seed=cfg.train.seed,
                                  mixup=cfg.data.mixup)
                ds.set_epoch(view)
                return ds
            return loaders.ds["train_aug"]

        return dataset_for_view

    @staticmethod
    def _teacher_accuracy(cfg: Config, teacher: Network, data: TaskData, loaders: Loaders, bf16: bool) -> float:
        """The teacher's (with its task head) test accuracy, kept under the cache root by teacher weights, test
        split and preprocessing: the arms and seeds of a study evaluate one teacher once. A score whose bytes
        changed (its hash) is measured again."""
        assert cfg.teacher is not None
        key = {"weights": weights_fingerprint(teacher), "test": data.test.fingerprint(),
               "input": teacher.input_spec(), "max_length": cfg.data.max_length, "bf16": bf16}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
        path = cache_root(cfg.teacher.cache_dir) / "teacher_scores" / f"{digest}.json"
        if path.is_file() and verify_hash(path):
            return float(json.loads(path.read_text())["accuracy"])
        logits = compute_features(teacher, loaders.test, {"logits"}, "teacher on test",
                                  progress=cfg.train.progress, bf16=bf16)["logits"]
        acc = accuracy(logits, data.test.labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"accuracy": acc, "key": key}, default=str)
        write_with_hash(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return acc

    # -- loss terms ----------------------------------------------------------------------------------------------
    def term_context(self, cfg: Config, prep: Prepared) -> TermContext:
        s, t, data = prep.student, prep.teacher, prep.extra["data"]
        return TermContext(student_dim=s.embed_dim, teacher_dim=t.embed_dim if t is not None else None,
                           num_classes=data.num_classes, temperature=cfg.distill.temperature,
                           projector=cfg.distill.projector, proj_dim=cfg.distill.proj_dim,
                           num_train=len(data.student_train),
                           teacher_head=t.get_head() if t is not None else None)

    def check_terms(self, cfg: Config, prep: Prepared, loss_set: LossSet, quiet: bool) -> None:
        student, teacher = prep.student, prep.teacher
        request_features(student, loss_set.needs_student)
        if teacher is not None:
            request_features(teacher, loss_set.needs_teacher)
        batch = probe_batch(prep.extra["loaders"])
        prep.extra["probe"] = batch
        s_probe = probe(student, batch, "student")
        t_probe = probe(teacher, batch, "teacher") if teacher is not None else None
        check_requirements(loss_set, s_probe.available(), t_probe.available() if t_probe is not None else None,
                           f"student {cfg.student.model}", f"teacher {cfg.teacher.spec}" if cfg.teacher else "")
        for term in loss_set.terms.values():  # shape-dependent parts and checks, before the optimizer exists
            prepare = getattr(term, "prepare", None)
            if prepare is not None:
                prepare(s_probe, t_probe, batch)
        if cfg.train.compile:
            student.compile()  # in place: parameter names and checkpoints are unchanged

    def configure(self, cfg: Config, prep: Prepared, module, quiet: bool) -> None:
        tc = cfg.train
        module.diffaugment = cfg.data.diffaugment if prep.extra["data"].modality == "image" else None
        needs = module.losses.needs_student | module.losses.needs_teacher
        module.gather = cfg.distill.gather and needs <= GATHERABLE
        if cfg.distill.gather and not module.gather and (tc.devices not in (1, "1") or tc.num_nodes > 1):
            log(f"note: the loss terms need {', '.join(sorted(needs - GATHERABLE))}, which are not gathered across "
                "processes: every process computes the loss on its own part of the batch", quiet)

    # -- evaluate and save ---------------------------------------------------------------------------------------
    def finish(self, prep: Prepared, state: RunState) -> dict[str, Any]:
        cfg, module, bf16 = state.cfg, state.module, state.bf16
        tc = cfg.train
        student, teacher = prep.student, prep.teacher
        data: TaskData = prep.extra["data"]
        loaders: Loaders = prep.extra["loaders"]
        history = module.history
        for net in (student, teacher):  # evaluate and time the plain networks (the student as it is saved)
            if net is not None:
                request_features(net, set())
        best_path = state.best_path
        student.eval().to(compute_device(tc.accelerator))  # Lightning hands the module back on the CPU
        # under the run's autocast, as in the per-epoch validation: the selected epoch scores what its history says
        logits = compute_features(student, loaders.test, {"logits"}, "student on test", progress=False,
                                  side="student", bf16=bf16)["logits"]
        test_acc = accuracy(logits, data.test.labels)
        test_hist = [h["test/acc"] for h in history if "test/acc" in h]
        save_student(state.run_dir, cfg, student, data, prep.extra["tok"])
        teacher_report = state.teacher.report if state.teacher is not None else None
        metrics: dict[str, Any] = {
            "teacher": teacher_report,
            "student": {"spec": cfg.student.model, "accuracy": test_acc,
                        # over epochs: only where the test split was scored after every epoch (else None)
                        "best_accuracy": max(test_hist) if test_hist else None,
                        "last_accuracy": history[-1].get("test/acc") if history else None,
                        "selected_by": "val/acc" if best_path else "last epoch (no validation split)",
                        "params": count_params(student),
                        "latency_ms_per_sample": round(latency_ms(student, loaders.test, "student", bf16=bf16), 4)},
            "train": {**state.train_section(),
                      "train_size": len(data.train), "val_size": len(data.val) if data.val is not None else 0,
                      "transfer_size": len(data.transfer) if data.transfer is not None else 0,
                      "synthetic_size": len(data.synthetic) if data.synthetic is not None else 0,
                      "effective_batch_size": state.effective_batch_size(),
                      "resumed_from": state.ckpt_path},
            "compute": compute_report(state.meter, state.tracker, cfg, bf16, time.perf_counter() - state.t_start,
                                      student, teacher, prep.extra["probe"]),
            "history": history,
        }
        outputs = state.teacher.outputs if state.teacher is not None else None
        if isinstance(outputs, LiveTeacher) and teacher_report is not None:
            teacher_report["live_forward_s"] = round(outputs.forward_s, 3)
        if teacher is not None and teacher_report is not None:
            # the teacher ran in this process (a live teacher, or a cache built now): it is warm
            ran = teacher_report.get("outputs") != "cached" or (teacher_report.get("cache") or {}).get("status") \
                != "reused"
            teacher_report["latency_ms_per_sample"] = round(latency_ms(teacher, loaders.test, "teacher",
                                                                       bf16=teacher_bf16(cfg), warm=ran), 4)
        best = metrics["student"]["best_accuracy"]
        state.done_line = f"student test accuracy {test_acc:.4f}" + (f" (best over epochs {best:.4f})"
                                                                      if best is not None else "")
        return metrics
