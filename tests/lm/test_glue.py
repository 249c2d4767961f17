"""GLUE fine-tuning (Bui et al. 2024's evaluation of MLM-pre-trained students; Wang et al. 2018): the TSV layouts,
the metrics, fine-tuning a tiny BERT on generated learnable tasks, and the CLI command."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from distillery.errors import DistilleryError
from distillery.lm.glue import (
    GLUE_TASKS,
    accuracy,
    f1_binary,
    finetune_glue,
    glue_markdown,
    glue_table,
    matthews_corr,
    pearson,
    read_glue,
    spearman,
)

REAL = Path("/work/shared/data/glue")
GOOD = ["good", "great", "fine", "nice", "happy", "lovely"]
BAD = ["bad", "awful", "poor", "sad", "ugly", "boring"]
FILLER = ["the", "a", "movie", "film", "was", "is", "very", "plot", "story", "it", "and", "really", "quite", "so"]


def _write(path: Path, rows: list[list[str]], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("\ufeff" if bom else "") + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


# ----------------------------------------------------------------------------------------------------- reading


@pytest.fixture()
def layouts(tmp_path) -> Path:
    """Two-row train files in each of the five real layouts (quotes left as is: quoting is off)."""
    _write(tmp_path / "SST-2" / "train.tsv", [["sentence", "label"], ['it \'s a "charming" journey . ', "1"],
                                              ["dull", "0"]])
    _write(tmp_path / "CoLA" / "train.tsv", [["gj04", "1", "", "Our friends won't buy this."],
                                             ["gj04", "0", "*", "The more he reads, the more books."]])
    _write(tmp_path / "MRPC" / "train.tsv", [["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
                                             ["1", "702876", "702977", 'He said " yes " .', "He agreed ."],
                                             ["0", "2108705", "2108831", "A b .", "C d ."]], bom=True)
    _write(tmp_path / "RTE" / "train.tsv", [["index", "sentence1", "sentence2", "label"],
                                            ["0", "No WMD found.", "WMD found.", "not_entailment"],
                                            ["1", "A cat sat.", "A cat exists.", "entailment"]])
    head = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"]
    _write(tmp_path / "STS-B" / "train.tsv", [head, ["0", "main-captions", "MSRvid", "2012test", "0001", "none", "none",
                                                     "A plane is taking off.", "An air plane is taking off.", "5.000"],
                                              ["1", "main-captions", "MSRvid", "2012test", "0004", "none", "none",
                                               "A man plays.", "A cat eats.", "0.500"]])
    return tmp_path


def test_read_glue_parses_each_layout(layouts):
    s = read_glue("SST-2", layouts, "train")
    assert s.texts_a == ['it \'s a "charming" journey . ', "dull"] and s.texts_b is None
    assert s.labels.tolist() == [1, 0] and s.labels.dtype == np.int64
    c = read_glue("CoLA", layouts, "train")  # no header: both rows are data
    assert c.texts_a == ["Our friends won't buy this.", "The more he reads, the more books."]
    assert c.labels.tolist() == [1, 0] and c.texts_b is None
    m = read_glue("mrpc", layouts, "train")  # BOM on "Quality"
    assert m.texts_a == ['He said " yes " .', "A b ."] and m.texts_b == ["He agreed .", "C d ."]
    assert m.labels.tolist() == [1, 0]
    r = read_glue("RTE", layouts, "train")
    assert r.texts_a == ["No WMD found.", "A cat sat."] and r.texts_b == ["WMD found.", "A cat exists."]
    assert r.labels.tolist() == [1, 0]  # not_entailment = 1, entailment = 0 (the Hub's encoding)
    b = read_glue("stsb", layouts, "train")
    assert b.texts_a == ["A plane is taking off.", "A man plays."]
    assert b.texts_b == ["An air plane is taking off.", "A cat eats."]
    assert b.labels.dtype == np.float32 and b.labels.tolist() == pytest.approx([5.0, 0.5])


def test_read_glue_errors_name_the_file(layouts):
    with pytest.raises(DistilleryError, match=r"SST-2.dev\.tsv"):
        read_glue("SST-2", layouts, "dev")
    with pytest.raises(DistilleryError, match="not found"):
        read_glue("SST-2", layouts / "nowhere", "train")
    _write(layouts / "RTE" / "dev.tsv", [["index", "premise", "hypothesis", "label"], ["0", "a", "b", "entailment"]])
    with pytest.raises(DistilleryError, match=r"RTE.dev\.tsv.*sentence1"):
        read_glue("RTE", layouts, "dev")
    _write(layouts / "CoLA" / "dev.tsv", [["sentence", "label"], ["a b", "1"]])  # a headed 2-column file
    with pytest.raises(DistilleryError, match=r"CoLA.dev\.tsv:1: 2 tab-separated fields"):
        read_glue("CoLA", layouts, "dev")
    _write(layouts / "RTE" / "test.tsv", [["index", "sentence1", "sentence2", "label"], ["0", "a", "b", "maybe"]])
    with pytest.raises(DistilleryError, match=r"RTE.test\.tsv:2: bad RTE label 'maybe'"):
        read_glue("RTE", layouts, "test")
    with pytest.raises(DistilleryError, match="unknown GLUE task"):
        read_glue("MNLI", layouts, "train")


def test_max_examples_is_a_seeded_subset(tmp_path):
    _write(tmp_path / "SST-2" / "train.tsv", [["sentence", "label"]] + [[f"s{i}", str(i % 2)] for i in range(50)])
    a = read_glue("SST-2", tmp_path, "train", max_examples=10, seed=3)
    assert a.texts_a == read_glue("SST-2", tmp_path, "train", max_examples=10, seed=3).texts_a
    assert len(a) == 10 and a.texts_a != read_glue("SST-2", tmp_path, "train", max_examples=10, seed=4).texts_a
    assert a.labels.tolist() == [int(t[1:]) % 2 for t in a.texts_a]  # texts and labels stay aligned
    assert sorted(a.texts_a, key=lambda t: int(t[1:])) == a.texts_a  # file order kept
    assert len(read_glue("SST-2", tmp_path, "train", max_examples=500)) == 50


@pytest.mark.skipif(not REAL.is_dir(), reason="no local GLUE copy")
def test_real_glue_files():
    dev_rows = {"SST-2": 872, "CoLA": 1043, "MRPC": 408, "RTE": 277, "STS-B": 1500}
    for task, n in dev_rows.items():
        d = read_glue(task, REAL, "dev")
        assert len(d) == n and d.labels is not None and len(d.labels) == n
        assert (d.texts_b is not None) == (GLUE_TASKS[task].text_b is not None)
    assert read_glue("SST-2", REAL, "dev").texts_a[0] == "it 's a charming and often affecting journey . "
    assert read_glue("CoLA", REAL, "train").texts_a[0] == "Our friends won't buy this analysis, let alone the next " \
                                                          "one we propose."
    assert read_glue("MRPC", REAL, "dev").labels[0] == 1
    assert read_glue("RTE", REAL, "dev").labels[0] == 1  # not_entailment
    assert read_glue("STS-B", REAL, "dev").labels[0] == pytest.approx(5.0)
    t = read_glue("RTE", REAL, "test")
    assert t.labels is None and len(t) == 3000


# ----------------------------------------------------------------------------------------------------- metrics


def test_metrics_by_hand():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])  # TP 3, FN 1, FP 1, TN 5
    assert accuracy(y, p) == pytest.approx(0.8)
    assert f1_binary(y, p) == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert matthews_corr(y, p) == pytest.approx((3 * 5 - 1 * 1) / np.sqrt(4 * 4 * 6 * 6))
    assert matthews_corr(y, y) == pytest.approx(1.0) and matthews_corr(y, 1 - y) == pytest.approx(-1.0)
    assert matthews_corr(y, np.zeros_like(y)) == 0.0  # constant prediction: 0, not NaN
    assert f1_binary(y, np.zeros_like(y)) == 0.0
    # multi-class MCC against the covariance form
    y3, p3 = np.array([0, 1, 2, 0, 1, 2, 2]), np.array([0, 2, 2, 0, 1, 1, 2])
    oy, op = np.eye(3)[y3], np.eye(3)[p3]
    cov = lambda a, b: float(((a - a.mean(0)) * (b - b.mean(0))).sum())  # noqa: E731
    assert matthews_corr(y3, p3) == pytest.approx(cov(oy, op) / np.sqrt(cov(oy, oy) * cov(op, op)))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0) and pearson(a, np.ones(50)) == 0.0
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)
    x, z = np.array([1.0, 2, 3, 4, 5]), np.array([5.0, 6, 7, 8, 7])  # ranks z: 1, 2, 3.5, 5, 3.5
    assert spearman(x, z) == pytest.approx(np.corrcoef([1, 2, 3, 4, 5], [1, 2, 3.5, 5, 3.5])[0, 1])


def test_glue_markdown():
    table = {"a": {"SST-2": {"metric": "accuracy", "score": 0.9123}, "STS-B": {"metric": "pearson", "score": 0.5}},
             "b": {"SST-2": {"metric": "accuracy", "score": 0.8}}}
    md = glue_markdown(table).splitlines()
    assert md[0] == "| model | SST-2 (acc) | STS-B (Pearson) | avg |"
    assert md[2] == "| a | 91.2 | 50.0 | 70.6 |"
    assert md[3] == "| b | 80.0 | - | 80.0 |"


# -------------------------------------------------------------------------------------------------- fine-tuning


def _sst2_rows(n: int, rng: random.Random) -> list[list[str]]:
    rows = [["sentence", "label"]]
    for i in range(n):
        y = i % 2
        words = [rng.choice(GOOD if y else BAD)] + rng.sample(FILLER, 4)
        rng.shuffle(words)
        rows.append([" ".join(words) + " ", str(y)])
    return rows


def _stsb_rows(n: int, rng: random.Random) -> list[list[str]]:
    """Score = 1.25 x the number of 'good' words in the pair (0-4): a bag-of-words regression."""
    rows = [["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
             "score"]]
    for i in range(n):
        k = 0
        sents = []
        for _ in range(2):
            content = [rng.choice(GOOD) if rng.random() < 0.5 else rng.choice(BAD) for _ in range(2)]
            k += sum(w in GOOD for w in content)
            words = content + rng.sample(FILLER, 2)
            rng.shuffle(words)
            sents.append(" ".join(words))
        rows.append([str(i), "g", "f", "2012", str(i), "none", "none", *sents, f"{1.25 * k:.3f}"])
    return rows


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory) -> Path:
    rng = random.Random(0)
    d = tmp_path_factory.mktemp("glue")
    _write(d / "SST-2" / "train.tsv", _sst2_rows(256, rng))
    _write(d / "SST-2" / "dev.tsv", _sst2_rows(64, rng))
    _write(d / "STS-B" / "train.tsv", _stsb_rows(384, rng))
    _write(d / "STS-B" / "dev.tsv", _stsb_rows(96, rng))
    return d


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, tiny_bert_builder) -> Path:
    """A tiny random BertForMaskedLM with a word-level tokenizer, saved like a pre-trained student."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(GOOD + BAD + FILLER))
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    return tiny_bert_builder(tmp_path_factory.mktemp("tiny_bert"), tok, "BertForMaskedLM")


def test_finetune_sst2_layout_learns(tiny_bert, glue_dir):
    r = finetune_glue(tiny_bert, "SST-2", glue_dir, lrs=(1e-3, 3e-3), epochs=3, batch_size=16, device="cpu")
    assert r["task"] == "SST-2" and r["metric"] == "accuracy" and r["train_examples"] == 256
    assert set(r["by_lr"]) == {"0.001", "0.003"} and all(len(v) == 3 for v in r["by_lr"].values())
    assert r["score"] == max(max(v) for v in r["by_lr"].values())
    assert r["score"] >= 0.9, r
    assert r["extra"] == {} and r["seconds"] > 0
    json.dumps(r)


def test_finetune_stsb_layout_regression(tiny_bert, glue_dir):
    r = finetune_glue(tiny_bert, "STS-B", glue_dir, lrs=(3e-3,), epochs=4, batch_size=16, max_train=300,
                      device="cpu")
    assert r["metric"] == "pearson" and r["train_examples"] == 300
    assert np.isfinite(r["score"]) and r["score"] > 0.5, r
    assert set(r["extra"]) == {"spearman"} and np.isfinite(r["extra"]["spearman"])


def test_finetune_missing_file_and_model(tiny_bert, glue_dir, tmp_path):
    with pytest.raises(DistilleryError, match=r"MRPC.train\.tsv"):
        finetune_glue(tiny_bert, "MRPC", glue_dir, lrs=(1e-3,), epochs=1, device="cpu")
    with pytest.raises(DistilleryError, match="model folder not found"):
        glue_table({"x": tmp_path / "none"}, ["SST-2"], glue_dir)


def test_cli_glue(tiny_bert, glue_dir, tmp_path, capsys):
    from distillery.cli import main

    out = tmp_path / "res" / "glue.json"
    rc = main(["glue", str(tiny_bert), "--tasks", "sst2", "--source", str(glue_dir), "--lrs", "3e-3", "--epochs",
               "1", "--max-train", "64", "--batch-size", "16", "--out", str(out), "-q"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "| model | SST-2 (acc) | avg |" in printed and f"| {tiny_bert.name} |" in printed
    res = json.loads(out.read_text())
    assert res[tiny_bert.name]["SST-2"]["train_examples"] == 64
    rc = main(["glue", str(tiny_bert), "--tasks", "SST-2", "--source", str(tmp_path / "missing"), "-q"])
    assert rc == 2 and "GLUE data folder not found" in capsys.readouterr().err
    assert main(["glue", str(tiny_bert), "--tasks", "SST-2", "--source", str(glue_dir), "--lrs", "x", "-q"]) == 2
