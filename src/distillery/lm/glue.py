"""Fine-tune a pre-trained small BERT on GLUE tasks and report dev scores.

This is how Bui et al. (2024) evaluate MLM-pre-trained students: each task gets a fresh classification (or, for STS-B,
regression) head, a short fine-tuning run per learning rate, and the best dev score over a small lr grid and the epochs
(GLUE: Wang et al. 2018). Tasks: SST-2, CoLA, MRPC, RTE, STS-B, read from the standard ``glue_data/`` TSV layout or,
when ``source`` is not an existing path, from the Hugging Face Hub (``nyu-mll/glue``).
"""
from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DistilleryError

# ---------------------------------------------------------------------------------------------------------- metrics


def accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    """Fraction of predictions equal to the labels (GLUE metric of SST-2 and RTE; reported for MRPC)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    return float(np.mean(labels == preds)) if labels.size else float("nan")


def matthews_corr(labels: np.ndarray, preds: np.ndarray) -> float:
    """Matthews correlation coefficient (GLUE metric of CoLA), multi-class form (Gorodkin 2004).

    With a confusion matrix C: (c*s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)), where c is the
    trace, s the total, p_k the predicted and t_k the true counts. 0 when either side is constant (as sklearn does).
    """
    labels, preds = np.asarray(labels).astype(np.int64), np.asarray(preds).astype(np.int64)
    k = int(max(labels.max(initial=0), preds.max(initial=0))) + 1
    conf = np.zeros((k, k), dtype=np.float64)
    np.add.at(conf, (labels, preds), 1)
    t, p = conf.sum(1), conf.sum(0)
    c, s = np.trace(conf), conf.sum()
    den = math.sqrt((s * s - float(p @ p)) * (s * s - float(t @ t)))
    return float((c * s - float(p @ t)) / den) if den > 0 else 0.0


def f1_binary(labels: np.ndarray, preds: np.ndarray) -> float:
    """F1 of the positive class 1 (GLUE metric of MRPC): 2 TP / (2 TP + FP + FN); 0 when there is no positive."""
    labels, preds = np.asarray(labels) == 1, np.asarray(preds) == 1
    tp = float(np.sum(labels & preds))
    den = 2 * tp + float(np.sum(~labels & preds)) + float(np.sum(labels & ~preds))
    return 2 * tp / den if den > 0 else 0.0


def pearson(labels: np.ndarray, preds: np.ndarray) -> float:
    """Pearson correlation (GLUE metric of STS-B); 0 when either side is constant (instead of NaN)."""
    x, y = np.asarray(labels, dtype=np.float64), np.asarray(preds, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / den) if den > 0 else 0.0


def spearman(labels: np.ndarray, preds: np.ndarray) -> float:
    """Spearman rank correlation (reported for STS-B): Pearson of the average ranks (ties share a rank)."""
    from scipy.stats import rankdata

    return pearson(rankdata(labels), rankdata(preds))


# ------------------------------------------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class GlueTask:
    """How one GLUE task is stored (local TSV and Hub) and scored."""

    name: str
    text_a: str  # column of the first text in the TSV header
    text_b: str | None  # column of the second text (sentence-pair tasks)
    label: str  # label column in the TSV header
    parse_label: Callable[[str], float | int]
    num_labels: int  # 1 = regression
    metric: str  # name of the main metric (a key of METRICS)
    extra: tuple[str, ...] = ()  # other metrics reported at the best point
    positional: tuple[str, ...] | None = None  # column names of header-less labelled files (CoLA train/dev)
    hub_config: str = ""
    hub_text_a: str = "sentence"
    hub_text_b: str | None = None

    @property
    def regression(self) -> bool:
        return self.num_labels == 1


def _int_label(allowed: Sequence[int]) -> Callable[[str], int]:
    def parse(s: str) -> int:
        v = int(s)
        if v not in allowed:
            raise ValueError(s)
        return v

    return parse


def _rte_label(s: str) -> int:
    return {"entailment": 0, "not_entailment": 1}[s]  # the Hub's encoding


def _score(s: str) -> float:
    v = float(s)
    if not 0.0 <= v <= 5.0:
        raise ValueError(s)
    return v


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy, "matthews": matthews_corr, "f1": f1_binary, "pearson": pearson, "spearman": spearman}
SHORT = {"accuracy": "acc", "matthews": "MCC", "f1": "F1", "pearson": "Pearson", "spearman": "Spearman"}

GLUE_TASKS: dict[str, GlueTask] = {t.name: t for t in (
    GlueTask("SST-2", "sentence", None, "label", _int_label((0, 1)), 2, "accuracy", hub_config="sst2"),
    GlueTask("CoLA", "sentence", None, "label", _int_label((0, 1)), 2, "matthews",
             positional=("source", "label", "original-mark", "sentence"), hub_config="cola"),
    GlueTask("MRPC", "#1 String", "#2 String", "Quality", _int_label((0, 1)), 2, "f1", ("accuracy",),
             hub_config="mrpc", hub_text_a="sentence1", hub_text_b="sentence2"),
    GlueTask("RTE", "sentence1", "sentence2", "label", _rte_label, 2, "accuracy",
             hub_config="rte", hub_text_a="sentence1", hub_text_b="sentence2"),
    GlueTask("STS-B", "sentence1", "sentence2", "score", _score, 1, "pearson", ("spearman",),
             hub_config="stsb", hub_text_a="sentence1", hub_text_b="sentence2"),
)}


def glue_task(name: str) -> GlueTask:
    """The task spec for ``name`` (case and dashes ignored: ``sst2``, ``STS-B`` and ``stsb`` all work)."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    for t in GLUE_TASKS.values():
        if key in (t.name.lower().replace("-", ""), t.hub_config):
            return t
    raise DistilleryError(f"unknown GLUE task {name!r}: choose from {', '.join(GLUE_TASKS)}")


# ------------------------------------------------------------------------------------------------------------- data


@dataclass
class GlueSplit:
    """One split of a GLUE task: texts (pairs when ``texts_b`` is set) and labels (None for the unlabelled test)."""

    task: str
    split: str
    texts_a: list[str]
    texts_b: list[str] | None
    labels: np.ndarray | None  # int64 class ids, or float32 scores for STS-B
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts_a)


def _is_hub_id(source: str) -> bool:
    """A Hub dataset id: not an existing path and not written like one (absolute, ./, ~, or several slashes)."""
    s = str(source)
    return (not os.path.exists(s) and not os.path.isabs(s) and not s.startswith((".", "~"))
            and s.count("/") <= 1 and "\\" not in s and bool(s))


def _read_tsv(task: GlueTask, path: Path, split: str) -> GlueSplit:
    if not path.is_file():
        raise DistilleryError(f"GLUE {task.name} {split} file not found: {path}")
    with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: MRPC starts with a BOM
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DistilleryError(f"{path}: empty file")
    if task.positional is not None and split != "test":
        header, body, first_line = list(task.positional), rows, 1
    else:
        header, body, first_line = rows[0], rows[1:], 2
    cols = {c: i for i, c in enumerate(header)}
    need = [task.text_a] + ([task.text_b] if task.text_b else [])
    has_label = task.label in cols
    if not has_label and split != "test":
        need.append(task.label)
    missing = [c for c in need if c not in cols]
    if missing:
        raise DistilleryError(f"{path}: not the GLUE {task.name} layout: missing column(s) {missing}, "
                              f"found {header[:12]}")
    ia, ib, il = cols[task.text_a], cols.get(task.text_b) if task.text_b else None, cols.get(task.label)
    texts_a: list[str] = []
    texts_b: list[str] = []
    labels: list[float | int] = []
    for n, r in enumerate(body, start=first_line):
        if len(r) != len(header):
            raise DistilleryError(f"{path}:{n}: {len(r)} tab-separated fields, expected {len(header)} "
                                  f"(GLUE {task.name} layout {header[:12]})")
        texts_a.append(r[ia])
        if ib is not None:
            texts_b.append(r[ib])
        if has_label:
            try:
                labels.append(task.parse_label(r[il].strip()))
            except (ValueError, KeyError):
                raise DistilleryError(f"{path}:{n}: bad {task.name} label {r[il]!r} in column {task.label!r}") from None
    y = None
    if has_label:
        y = np.asarray(labels, dtype=np.float32 if task.regression else np.int64)
    return GlueSplit(task.name, split, texts_a, texts_b if ib is not None else None, y, str(path))


def _read_hub(task: GlueTask, source: str, split: str) -> GlueSplit:
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise DistilleryError(f"{source!r} is not a folder, and the Hub needs the `datasets` package: {e}") from None
    hub_split = {"dev": "validation"}.get(split, split)
    try:
        ds = load_dataset(source, task.hub_config, split=hub_split)
    except Exception as e:  # offline, unknown id, ... : one line for the user
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DistilleryError(f"GLUE source {source!r} is not an existing folder, and loading it from the Hub "
                              f"({source}, {task.hub_config}, {hub_split}) failed: {msg}") from None
    y = np.asarray(ds["label"], dtype=np.float32 if task.regression else np.int64)
    texts_b = list(ds[task.hub_text_b]) if task.hub_text_b else None
    labels = None if (y.size and np.all(y < 0)) else y  # the Hub's test splits carry label -1
    return GlueSplit(task.name, split, list(ds[task.hub_text_a]), texts_b, labels, f"{source}:{task.hub_config}")


def read_glue(task: str, source: str | os.PathLike, split: str = "train", max_examples: int | None = None,
              seed: int = 0) -> GlueSplit:
    """Read one split (``train``, ``dev`` or ``test``) of a GLUE task (Wang et al. 2018).

    ``source`` is a folder holding the task folders (``SST-2/train.tsv`` ...) in the standard ``glue_data/`` layout,
    or, when it is not an existing path, a Hub dataset id (``nyu-mll/glue``). ``max_examples`` keeps a seeded random
    subset (in file order). Missing files or a wrong column layout raise :class:`DistilleryError` naming the file.
    """
    spec = glue_task(task)
    if split not in ("train", "dev", "test"):
        raise DistilleryError(f"GLUE split must be train, dev or test, got {split!r}")
    src = str(source)
    if _is_hub_id(src):
        out = _read_hub(spec, src, split)
    else:
        root = Path(src).expanduser()
        if not root.is_dir():
            raise DistilleryError(f"GLUE data folder not found: {root}")
        out = _read_tsv(spec, root / spec.name / f"{split}.tsv", split)
    if max_examples is not None and 0 <= max_examples < len(out):
        keep = np.sort(np.random.default_rng(seed).choice(len(out), size=max_examples, replace=False))
        out.texts_a = [out.texts_a[i] for i in keep]
        out.texts_b = [out.texts_b[i] for i in keep] if out.texts_b is not None else None
        out.labels = out.labels[keep] if out.labels is not None else None
    return out


# ------------------------------------------------------------------------------------------------------ fine-tuning


def _encode(tok: Any, data: GlueSplit, max_length: int) -> list[dict[str, list[int]]]:
    enc = tok(data.texts_a, data.texts_b, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(data))]


def _collate(feats: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Dynamic padding: pad to the longest sequence of the batch."""
    import torch

    n = max(len(f["input_ids"]) for f in feats)
    out = {}
    for k in feats[0]:
        fill = pad_id if k == "input_ids" else 0
        out[k] = torch.tensor([f[k] + [fill] * (n - len(f[k])) for f in feats], dtype=torch.long)
    return out


def _scores(spec: GlueTask, labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    return {m: METRICS[m](labels, preds) for m in (spec.metric, *spec.extra)}


def _load_model_dir(model_dir: str | os.PathLike) -> Path:
    d = Path(model_dir).expanduser()
    if not d.is_dir():
        raise DistilleryError(f"model folder not found: {d}")
    if not (d / "config.json").is_file():
        raise DistilleryError(f"{d}: not a Hugging Face model folder (no config.json)")
    return d


def finetune_glue(model_dir: str | os.PathLike, task: str, source: str | os.PathLike,
                  lrs: Sequence[float] = (1e-4, 3e-4), epochs: int = 3, batch_size: int = 32, max_length: int = 128,
                  max_train: int | None = None, seed: int = 0, bf16: bool = False, device: Any = None,
                  progress: bool = False) -> dict[str, Any]:
    """Fine-tune a BERT-style model folder on one GLUE task for each lr; return the best dev score (Bui et al. 2024).

    Each lr starts from the pre-trained weights (``AutoModelForSequenceClassification``, a fresh head; regression for
    STS-B) with the same seed: AdamW (weight decay 0.01, none on biases and LayerNorm), linear warmup over 10 % of
    the steps then linear decay, gradient clipping at 1, dynamic padding; the dev split is scored after every epoch.
    ``score`` is the best dev score over the lrs and epochs (the usual report for a small lr grid); ``extra`` holds
    the other metrics at that point; ``by_lr`` maps ``f"{lr:g}"`` to the per-epoch dev scores.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    from ..progress import track

    t0 = time.perf_counter()
    spec = glue_task(task)
    mdir = _load_model_dir(model_dir)
    if not lrs:
        raise DistilleryError("finetune_glue: give at least one learning rate")
    if epochs < 1 or batch_size < 1:
        raise DistilleryError(f"finetune_glue: epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    train = read_glue(spec.name, source, "train", max_examples=max_train, seed=seed)
    dev = read_glue(spec.name, source, "dev")
    if train.labels is None or dev.labels is None or len(train) == 0 or len(dev) == 0:
        raise DistilleryError(f"GLUE {spec.name}: the train and dev splits need labelled rows ({train.source})")
    dev_labels = dev.labels
    try:
        tok = AutoTokenizer.from_pretrained(str(mdir))
    except (OSError, ValueError) as e:
        raise DistilleryError(f"{mdir}: cannot load its tokenizer: {str(e).splitlines()[0]}") from None
    dev_ = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available()
                                                                          else "cpu")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    problem = "regression" if spec.regression else "single_label_classification"

    by_lr: dict[str, list[float]] = {}
    best: dict[str, Any] = {"score": -math.inf}
    train_feats = dev_feats = None
    for lr in lrs:
        torch.manual_seed(seed)
        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()  # "some weights newly initialized": expected, the head is new
        hf_logging.disable_progress_bar()
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(mdir), num_labels=spec.num_labels, problem_type=problem, dtype=torch.float32)
        except (OSError, ValueError, KeyError) as e:
            raise DistilleryError(f"{mdir}: cannot load it as a sequence classifier: {str(e).splitlines()[0]}") \
                from None
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        if train_feats is None:
            limit = min(max_length, int(getattr(model.config, "max_position_embeddings", max_length)))
            train_feats, dev_feats = _encode(tok, train, limit), _encode(tok, dev, limit)
        model.to(dev_)
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr)
        steps = epochs * math.ceil(len(train_feats) / batch_size)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
        gen = torch.Generator().manual_seed(seed)
        y_train = torch.tensor(train.labels)
        scores: list[float] = []
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(train_feats), generator=gen).tolist()
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            for idx in track(batches, f"{spec.name} lr={lr:g} epoch {epoch + 1}/{epochs}", enabled=progress):
                batch = {k: v.to(dev_) for k, v in _collate([train_feats[i] for i in idx], pad_id).items()}
                with torch.autocast(dev_.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = model(**batch, labels=y_train[idx].to(dev_)).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
            preds = _predict(model, dev_feats, pad_id, batch_size * 2, dev_, bf16, spec.regression)
            res = _scores(spec, dev_labels, preds)
            score = res[spec.metric]
            scores.append(score)
            if score > best["score"] or best["score"] == -math.inf:
                best = {"score": score, "lr": lr, "epoch": epoch + 1,
                        "extra": {k: v for k, v in res.items() if k != spec.metric}}
        by_lr[f"{lr:g}"] = scores
        del model, opt
        if dev_.type == "cuda":
            torch.cuda.empty_cache()
    return {"task": spec.name, "metric": spec.metric, "score": best["score"], "by_lr": by_lr,
            "extra": best["extra"], "best_lr": best["lr"], "best_epoch": best["epoch"],
            "train_examples": len(train), "dev_examples": len(dev), "seconds": time.perf_counter() - t0}


def _predict(model: Any, feats: list[dict[str, list[int]]], pad_id: int, batch_size: int, device: Any, bf16: bool,
             regression: bool) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(feats), batch_size):
            batch = {k: v.to(device) for k, v in _collate(feats[i:i + batch_size], pad_id).items()}
            logits = model(**batch).logits.float()
            out.append(logits[:, 0] if regression else logits.argmax(-1))
    return torch.cat(out).cpu().numpy()


# ------------------------------------------------------------------------------------------------------------ table


def glue_table(model_dirs: dict[str, str | os.PathLike], tasks: Iterable[str], source: str | os.PathLike,
               **kw: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Fine-tune every model folder on every task: ``{arm: {task: finetune_glue(...) result}}``."""
    specs = [glue_task(t) for t in tasks]
    if not specs or not model_dirs:
        raise DistilleryError("glue: give at least one model folder and one task")
    for d in model_dirs.values():
        _load_model_dir(d)  # fail before hours of fine-tuning, not after
    return {arm: {s.name: finetune_glue(d, s.name, source, **kw) for s in specs} for arm, d in model_dirs.items()}


def glue_markdown(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A Markdown table: one row per arm, one column per task (dev score x100, metric in the header), and the mean."""
    tasks: list[str] = []
    metric: dict[str, str] = {}
    for res in table.values():
        for t, r in res.items():
            if t not in tasks:
                tasks.append(t)
                metric[t] = r.get("metric", "")
    head = ["model"] + [f"{t} ({SHORT.get(metric[t], metric[t])})" for t in tasks] + ["avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for arm, res in table.items():
        vals = [100 * float(res[t]["score"]) if t in res else None for t in tasks]
        got = [v for v in vals if v is not None]
        cells = [f"{v:.1f}" if v is not None else "-" for v in vals]
        avg = f"{sum(got) / len(got):.1f}" if got else "-"
        lines.append("| " + " | ".join([arm, *cells, avg]) + " |")
    return "\n".join(lines) + "\n"
