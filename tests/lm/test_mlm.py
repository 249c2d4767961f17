"""Masked-LM task (Bui et al. 2024): BERT masking, every arm (scratch, kd, tinybert, minilm) on tiny models, and an
equal compute budget that charges the teacher's forward passes."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from distillery.api import run
from distillery.errors import DistilleryError
from distillery.lm.mlm import MaskedBlocks


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, text_data_dir) -> Path:
    with open(text_data_dir / "train.csv") as f:
        lines = [r["text"] for r in csv.DictReader(f)]
    p = tmp_path_factory.mktemp("mlm_corpus") / "corpus.txt"
    p.write_text("\n".join(lines * 4))
    return p


@pytest.fixture(scope="module")
def mlm_teacher_dir(tmp_path_factory, tokenizer_dir, tiny_bert_builder) -> Path:
    """A tiny random BERT *with* an MLM head (the kd arm needs one)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    return tiny_bert_builder(tmp_path_factory.mktemp("mlm_teacher"), tok, "BertForMaskedLM", seed=1)


def _cfg(corpus, teacher, out, method, **train) -> dict:
    cfg = {"data": {"source": str(corpus), "task": "mlm", "max_length": 16, "val_fraction": 0.1},
           "student": {"model": "mlm:bert", "kwargs": {"hidden_size": 16, "num_hidden_layers": 1,
                                                       "num_attention_heads": 2, "intermediate_size": 32}},
           "distill": {"method": method},
           "train": {"epochs": 3, "batch_size": 8, "lr": 3e-3, "progress": False, "seed": 0, **train},
           "output": {"dir": str(out)}}
    if teacher is not None:
        cfg["teacher"] = {"model": f"hf:{teacher}"}
    return cfg


def test_bert_masking_statistics(tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    vocab = len(tok)
    blocks = torch.randint(5, vocab, (400, 62))  # ids 0-4 are the special tokens of the test vocabulary
    ds = MaskedBlocks(blocks, tok, vocab, 0.15, seed=3)
    items = [ds[i] for i in range(len(ds))]
    ids = torch.stack([torch.cat([torch.tensor([tok.cls_token_id]), b, torch.tensor([tok.sep_token_id])])
                       for b in blocks])
    inputs = torch.stack([it["input_ids"] for it in items])
    labels = torch.stack([it["label"] for it in items])
    chosen = labels >= 0
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # [CLS] and [SEP] are never predicted
    assert torch.equal(labels[chosen], ids[chosen])  # the targets are the original tokens
    assert torch.equal(inputs[~chosen], ids[~chosen])  # the rest is untouched
    frac = chosen[:, 1:-1].float().mean().item()
    masked = (inputs[chosen] == tok.mask_token_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert frac == pytest.approx(0.15, abs=0.01)
    assert masked == pytest.approx(0.8, abs=0.03) and kept == pytest.approx(0.1 + 0.1 / vocab, abs=0.03)
    assert torch.equal(ds[7]["input_ids"], items[7]["input_ids"])  # reproducible
    ds.set_epoch(1)
    assert not torch.equal(ds[7]["label"], items[7]["label"])  # a new draw every epoch


def test_every_arm_runs_and_learns(tmp_path, corpus, mlm_teacher_dir, hf_teacher_dir):
    arms = {"scratch": mlm_teacher_dir, "kd": mlm_teacher_dir, "tinybert": mlm_teacher_dir, "minilm": hf_teacher_dir}
    for method, teacher in arms.items():
        m = run(_cfg(corpus, teacher, tmp_path / method, method), quiet=True)
        ces = [h["val/ce"] for h in m["history"]]
        assert m["task"] == "mlm" and len(ces) == 3 and all(map(torch.isfinite, torch.tensor(ces)))
        assert ces[-1] < ces[0], (method, ces)
        terms = set(m["train"]["terms"])
        assert terms == {"scratch": {"ce"}, "kd": {"ce", "kd"}, "tinybert": {"ce", "kd", "tinybert"},
                         "minilm": {"ce", "minilm"}}[method]  # the headless teacher: kd left out
        assert (m["compute"]["teacher_flops"] > 0) == (method != "scratch")  # scratch: tokenizer only
        assert (tmp_path / method / "model" / "config.json").is_file()  # loads for GLUE fine-tuning


def test_equal_flops_budget_charges_the_teacher(tmp_path, corpus, mlm_teacher_dir):
    budget = 4e8
    runs = {m: run(_cfg(corpus, mlm_teacher_dir, tmp_path / m, m, epochs=50,
                        budget={"flops": budget}), quiet=True) for m in ("scratch", "kd")}
    for m in runs.values():
        c = m["compute"]
        assert c["ended_by"] == "budget" and c["total_flops"] >= budget * 0.9
        assert c["total_flops"] <= budget * 1.1  # stops within a step or so of the budget
    scratch, kd = runs["scratch"]["compute"], runs["kd"]["compute"]
    assert kd["teacher_flops"] > 0 and scratch["teacher_flops"] == 0
    assert kd["steps"] < scratch["steps"]  # the teacher's forward passes were paid from the same budget
    assert runs["kd"]["train"]["tokens_seen"] < runs["scratch"]["train"]["tokens_seen"]


def test_logit_distillation_needs_an_mlm_head(tmp_path, corpus, hf_teacher_dir):
    with pytest.raises(DistilleryError, match="no trained MLM head"):
        run(_cfg(corpus, hf_teacher_dir, tmp_path / "kd", "kd"), quiet=True)


def test_compare_runs_the_study_and_writes_the_glue_table(tmp_path, corpus, mlm_teacher_dir, text_data_dir):
    """configs/mlm_budget.yaml's route in miniature: `compare` trains every arm on one FLOPs budget, fine-tunes each
    student on a GLUE task (SST-2 layout, generated) and reports val CE, tokens seen and the GLUE table."""
    import yaml

    from distillery.report.compare import compare

    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    with open(text_data_dir / "train.csv") as f:
        rows = list(csv.DictReader(f))
    for split, part in (("train", rows[:120]), ("dev", rows[120:])):
        lines = ["sentence\tlabel"] + [f"{r['text']}\t{int(r['intent'] in ('balance', 'card'))}" for r in part]
        (glue / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    cfg = _cfg(corpus, mlm_teacher_dir, tmp_path / "study", "scratch", epochs=50)
    cfg["glue"] = {"source": str(tmp_path / "glue"), "tasks": ["SST-2"], "lrs": [3e-3], "epochs": 2}
    path = tmp_path / "mlm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    paths = compare(str(path), ["scratch", "kd"], budget="flops=3e8", quiet=True)
    report = paths["md"].read_text()
    assert "GLUE dev scores" in report and "| scratch |" in report and "| kd |" in report
    assert "tokens seen" in report and "validation cross-entropy" in report
    for arm in ("scratch", "kd"):
        m = __import__("json").loads((tmp_path / "study" / f"{arm}_s0" / "metrics.json").read_text())
        assert m["glue"]["SST-2"]["metric"] == "accuracy" and 0.0 <= m["glue"]["SST-2"]["score"] <= 1.0
        assert m["compute"]["ended_by"] == "budget"


def test_mlm_pretrained_student_fine_tunes_as_a_classifier(corpus, hf_teacher_dir, make_text_config, tmp_path):
    """The pre-train-then-fine-tune route (Farhat & Chen 2024's baseline): a masked-LM run's ``mlm:bert`` student
    loads into the ``transformer`` classifier of the same sizes (encoder kept, MLM head left behind) and trains."""
    from safetensors.torch import load_file

    from distillery.models import create_model
    from distillery.models.weights import load_weights
    from distillery.report.compare import _weights_path

    sizes = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
    pre = _cfg(corpus, hf_teacher_dir, tmp_path / "pre", "scratch")
    pre["student"]["kwargs"] = sizes
    run(pre, quiet=True)
    weights = _weights_path(str(tmp_path / "pre"))  # what compare --finetune-weights RUN_DIR picks
    assert weights == tmp_path / "pre" / "model" / "model.safetensors"
    saved = load_file(str(weights))
    assert any(k.startswith("cls.") for k in saved)  # the MLM head is in the file ...

    vocab = saved["bert.embeddings.word_embeddings.weight"].shape[0]
    clf = create_model("transformer", 3, pretrained=False, vocab_size=vocab, hidden_size=16, num_layers=1,
                       num_heads=2, intermediate_size=32)
    load_weights(clf, weights)
    assert clf.head_fits is False  # ... and not in the classifier, whose head is new
    mine = clf.state_dict()
    for k, v in saved.items():
        if k.startswith("bert."):
            assert torch.equal(mine["encoder." + k[len("bert."):]], v), k

    raw = make_text_config("ft", distill__method="scratch")
    raw["student"] = {"model": "transformer", "weights": str(weights),
                      "kwargs": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32}}
    m = run(raw, quiet=True)
    assert m["student"]["accuracy"] > 0
    wrong = dict(raw, student=dict(raw["student"], kwargs=dict(raw["student"]["kwargs"], hidden_size=32)))
    wrong["output"] = {"dir": str(tmp_path / "ft_wrong")}
    with pytest.raises(DistilleryError, match="weights do not fit the model"):
        run(wrong, quiet=True)


def test_compare_runs_the_pre_training_route_at_budgets(corpus, hf_teacher_dir, make_text_config, tmp_path):
    """``compare --pretrain-config C --pretrain-budgets B1,B2``: one pre-training run per budget, one finetune@B arm
    per budget started from it, and the report counts the pre-training FLOPs in that arm's FLOPs."""
    import json

    import yaml

    from distillery.cli import main

    pre = _cfg(corpus, hf_teacher_dir, tmp_path / "unused", "scratch", epochs=50)
    pre["student"]["kwargs"] = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                "intermediate_size": 32}
    (tmp_path / "pre.yaml").write_text(yaml.safe_dump(pre))
    task = make_text_config("route", distill__method="scratch")
    task["student"] = {"model": "transformer", "kwargs": {"hidden_size": 16, "num_layers": 1, "num_heads": 2,
                                                          "intermediate_size": 32}}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    out = tmp_path / "study"
    args = ["compare", str(tmp_path / "task.yaml"), "--arms", "scratch", "--out", str(out), "-q",
            "--pretrain-config", str(tmp_path / "pre.yaml"), "--pretrain-budgets", "2e8,6e8"]
    assert main(args) == 0
    flops = {}
    for b in ("2e+08", "6e+08"):
        m = json.loads((out / f"pretrain_{b}" / "metrics.json").read_text())
        assert m["compute"]["ended_by"] == "budget" and m["compute"]["total_flops"] >= float(b)
        flops[b] = m["compute"]["total_flops"]
        ft = yaml.safe_load((out / f"finetune_{b}_s0" / "config.yaml").read_text())
        assert ft["student"]["weights"].endswith(f"pretrain_{b}/model/model.safetensors")
        assert ft["distill"]["method"] == "scratch"
    report = (out / "report.md").read_text()
    for b, f in flops.items():
        arm = f"finetune@{f:.2g}"
        ft_m = json.loads((out / f"finetune_{b}_s0" / "metrics.json").read_text())
        row = next(line for line in report.splitlines() if line.startswith(f"| {arm} |"))
        assert f"{ft_m['compute']['total_flops'] + f:.3g}" in row  # pre-training + fine-tuning
    assert "| scratch |" in report
    assert main(args) == 0  # finished: everything reused
    assert main([*args[:-2], "--pretrain-budgets", "1e8,x"]) == 2
