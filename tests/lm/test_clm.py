"""Causal LM task: divergences, supervised pre-training of a teacher, next-token distillation live and from a
top-k cache, and the vocabulary checks."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from distillery.api import run
from distillery.errors import DistilleryError
from distillery.losses import functional as LF


def _softmax_rows(n=6, v=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, v, generator=g) * 2, torch.randn(n, v, generator=g) * 2


def test_divergences_against_explicit_sums():
    s, t = _softmax_rows()
    for temp in (1.0, 2.0):
        ps, pt = F.softmax(s / temp, -1), F.softmax(t / temp, -1)
        fkl = (pt * (pt.log() - ps.log())).sum(-1).mean() * temp**2
        rkl = (ps * (ps.log() - pt.log())).sum(-1).mean() * temp**2
        assert float(LF.kd_loss(s, t, temp)) == pytest.approx(float(fkl), rel=1e-5)
        assert float(LF.reverse_kl_loss(s, t, temp)) == pytest.approx(float(rkl), rel=1e-5)
        for beta in (0.1, 0.5, 0.9):
            m = beta * pt + (1 - beta) * ps
            jsd = (beta * (pt * (pt / m).log()).sum(-1) + (1 - beta) * (ps * (ps / m).log()).sum(-1)).mean()
            assert float(LF.jsd_loss(s, t, beta, temp)) == pytest.approx(float(jsd * temp**2), rel=1e-5)
    assert float(LF.jsd_loss(s, t, 0.5)) == pytest.approx(float(LF.jsd_loss(t, s, 0.5)), rel=1e-5)  # symmetric
    assert float(LF.jsd_loss(s, s, 0.3)) == pytest.approx(0.0, abs=1e-6)
    assert float(LF.jsd_loss(s, t, 0.5)) <= math.log(2) + 1e-6  # bounded by log 2
    assert float(LF.reverse_kl_loss(s, s)) == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, text_data_dir):
    """The tiny intent sentences, repeated: a corpus a small causal LM can learn."""
    with open(text_data_dir / "train.csv") as f:
        lines = [r["text"] for r in csv.DictReader(f)]
    p = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    p.write_text("\n".join(lines * 4))
    return p


def _cfg(corpus, tokenizer_dir, out, method="scratch", teacher=None, **train):
    cfg = {"data": {"source": str(corpus), "task": "clm", "max_length": 16, "val_fraction": 0.1},
           "student": {"model": "clm:gpt2", "kwargs": {"n_layer": 1, "n_embd": 32, "n_head": 2},
                       "tokenizer": str(tokenizer_dir)},
           "distill": {"method": method, "temperature": 1.0},
           "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3, "progress": False, "seed": 0, **train},
           "output": {"dir": str(out)}}
    if teacher is not None:
        cfg["teacher"] = {"model": f"hf:{teacher}", "cache": "off"}
    return cfg


@pytest.fixture(scope="module")
def clm_teacher(corpus, tokenizer_dir, tmp_path_factory):
    """A causal LM teacher pre-trained here, supervised, by `distillery run` (no teacher)."""
    out = tmp_path_factory.mktemp("clm") / "teacher"
    cfg = _cfg(corpus, tokenizer_dir, out, epochs=10, lr=5e-3)
    cfg["student"]["kwargs"] = {"n_layer": 2, "n_embd": 64, "n_head": 2}
    return run(cfg, quiet=True)


def test_supervised_pretraining_makes_a_teacher(clm_teacher, tokenizer_dir, corpus):
    m = clm_teacher
    vocab = len(__import__("transformers").AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    assert m["task"] == "clm" and m["teacher"] is None
    tok = __import__("transformers").AutoTokenizer.from_pretrained(str(tokenizer_dir))
    ids = tok(corpus.read_text().split(), add_special_tokens=False)["input_ids"]
    counts = torch.bincount(torch.tensor([i for w in ids for i in w]), minlength=vocab)
    p = counts[counts > 0].double() / counts.sum()
    unigram = float(-(p * p.log()).sum())  # the best cross-entropy without context
    assert m["student"]["val_ce"] < unigram - 0.1 < math.log(vocab)  # it learnt from the context
    ces = [h["val/ce"] for h in m["history"]]
    assert ces[-1] < ces[0] and m["student"]["best_val_ce"] == pytest.approx(min(ces), rel=1e-4)
    assert m["train"]["tokens_seen"] == m["train"]["steps"] * 16 * 16
    assert 0 < m["student"]["non_embedding_params"] < m["student"]["params"]
    from distillery.scaling.fit import read_runs  # the planner's --fit reads clm runs as they are

    rec = read_runs([Path(m["student"]["model_dir"]).parent])[0]
    assert rec.teacher_loss is None and rec.student_loss == pytest.approx(m["student"]["val_ce"])
    assert rec.tokens == m["train"]["tokens_seen"] and rec.student_params == m["student"]["non_embedding_params"]


@pytest.mark.parametrize("method", ["kd", "rkl", "jsd"])
def test_distillation_from_the_pretrained_teacher(clm_teacher, corpus, tokenizer_dir, tmp_path, method):
    teacher = clm_teacher["student"]["model_dir"]
    cfg = _cfg(corpus, tokenizer_dir, tmp_path / method, teacher=teacher)
    cfg["distill"]["terms"] = {method: {"weight": 1.0}}  # pure distillation (lambda = 1)
    m = run(cfg, quiet=True)
    assert m["teacher"]["val_ce"] == pytest.approx(clm_teacher["student"]["val_ce"], rel=1e-4)
    assert m["compute"]["teacher_flops"] > 0 and math.isfinite(m["student"]["val_ce"])
    if method == "kd":  # the distilled student is closer to its teacher than the same student trained alone
        scratch = run(_cfg(corpus, tokenizer_dir, tmp_path / "scratch"), quiet=True)
        assert _kl_to_teacher(teacher, m, corpus, tokenizer_dir) < _kl_to_teacher(teacher, scratch, corpus,
                                                                                   tokenizer_dir)


def _kl_to_teacher(teacher_dir, metrics, corpus, tokenizer_dir) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distillery.config import DataConfig
    from distillery.lm.corpus import read_corpus, split_blocks, token_blocks

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    _, val = split_blocks(token_blocks(read_corpus(DataConfig(source=str(corpus))), tok, 16), 0.1, 0)
    with torch.no_grad():
        t = AutoModelForCausalLM.from_pretrained(teacher_dir)(input_ids=val[:, :-1]).logits
        s = AutoModelForCausalLM.from_pretrained(metrics["student"]["model_dir"])(input_ids=val[:, :-1]).logits
    return float(LF.kd_loss(s.flatten(0, 1), t.flatten(0, 1), 1.0))


def test_cached_topk_matches_live(clm_teacher, corpus, tokenizer_dir, tmp_path):
    teacher = clm_teacher["student"]["model_dir"]
    runs = {}
    for name, cache, k in (("live", "off", 0), ("full", "auto", 0), ("top8", "auto", 8)):
        cfg = _cfg(corpus, tokenizer_dir, tmp_path / name, teacher=teacher)
        cfg["distill"]["terms"] = {"ce": {"weight": 0.5}, "kd": {"weight": 0.5}}
        cfg["teacher"].update(cache=cache, cache_topk=k)
        runs[name] = run(cfg, quiet=True)
    live = [h["train/loss"] for h in runs["live"]["history"]]
    assert runs["full"]["teacher"]["outputs"] == "cached" == runs["top8"]["teacher"]["outputs"]
    assert [h["train/loss"] for h in runs["full"]["history"]] == pytest.approx(live, rel=1e-4)
    assert [h["train/loss"] for h in runs["top8"]["history"]] == pytest.approx(live, rel=0.05)
    assert runs["top8"]["student"]["val_ce"] == pytest.approx(runs["live"]["student"]["val_ce"], rel=0.05)


def test_vocabulary_mismatch_and_padded_rows(clm_teacher, corpus, tokenizer_dir, tmp_path):
    from transformers import BertTokenizerFast, GPT2Config, GPT2LMHeadModel

    other = tmp_path / "other_tok"
    BertTokenizerFast(vocab={w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"])}
                      ).save_pretrained(str(other))
    cfg = _cfg(corpus, tokenizer_dir, tmp_path / "mismatch", method="kd", teacher=clm_teacher["student"]["model_dir"])
    cfg["student"]["tokenizer"] = str(other)
    with pytest.raises(DistilleryError, match="vocabulary mismatch: the teacher's tokenizer has \\d+ tokens, the "
                                              "student's 7, and they differ"):
        run(cfg, quiet=True)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    padded = tmp_path / "padded"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok) + 3, n_positions=16, n_layer=1, n_embd=16, n_head=2)
                    ).save_pretrained(str(padded))
    tok.save_pretrained(str(padded))
    cfg = _cfg(corpus, tokenizer_dir, tmp_path / "pad", method="kd", teacher=padded, epochs=1)
    assert math.isfinite(run(cfg, quiet=True)["student"]["val_ce"])  # padded rows ignored
    small = tmp_path / "small"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok) - 2, n_positions=16, n_layer=1, n_embd=16, n_head=2)
                    ).save_pretrained(str(small))
    tok.save_pretrained(str(small))
    cfg = _cfg(corpus, tokenizer_dir, tmp_path / "small_run", method="kd", teacher=small, epochs=1)
    with pytest.raises(DistilleryError, match="the teacher's output layer has \\d+ rows but the tokenizer has"):
        run(cfg, quiet=True)
