"""Every method preset runs end to end through ``distillery.api.run`` on tiny models (1 epoch, tiny batches).

Presets whose terms need per-layer q/k/v (transformer methods) run on the tiny HF BERT teacher with a tiny
``transformer`` student; the others on the tiny image task (resnet20 -> resnet20, live teacher because of the
augmentation; the teacher is a randomly initialised resnet20 checkpoint: these tests check that each method runs,
not what it learns, and this keeps the file fast when run alone). Two more runs cover the text path of the
embedding/logit terms (cached teacher, CRD memory mode) and the transformer terms with an ``hf:`` student and
explicit layer maps; requirement errors fail before training. scratch/kd/au are covered by tests/test_run.py.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from distillery.api import run
from distillery.errors import DistilleryError
from distillery.losses import PRESETS, TERMS

COVERED_ELSEWHERE = {"scratch", "kd", "au"}
TINY_TRANSFORMER = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32,
                    "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def random_resnet_teacher(tmp_path_factory) -> Path:
    """A randomly initialised resnet20 (4 classes) saved like the akamaster checkpoints."""
    from distillery.models import create_model

    torch.manual_seed(0)
    net = create_model("resnet20", 4)
    p = tmp_path_factory.mktemp("random_resnet") / "resnet20-random.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, p)
    return p


@pytest.fixture
def make_image_run(image_npz, random_resnet_teacher, tmp_path):
    def make(name: str) -> dict:
        return {"data": {"source": str(image_npz), "val_fraction": 0.1},
                "teacher": {"model": "resnet20", "weights": str(random_resnet_teacher)},
                "student": {"model": "resnet20"},
                "distill": {"method": "au", "proj_dim": 8},
                "train": {"epochs": 1, "batch_size": 32, "lr": 0.01, "progress": False, "seed": 0},
                "output": {"dir": str(tmp_path / name)}}

    return make


def _is_transformer_method(preset: str) -> bool:
    return any("qkv" in TERMS[n].needs_student for n in PRESETS[preset])


def _check(m: dict, raw: dict, terms) -> None:
    """Every term was logged with a finite epoch value (the CSV log has the train epoch means of a 1-epoch run)."""
    with open(Path(raw["output"]["dir"]) / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for name in [*terms, "loss"]:
        values = [float(r[f"train/{name}_epoch" if name == "loss" else f"train/{name}"]) for r in rows
                  if r.get(f"train/{name}_epoch" if name == "loss" else f"train/{name}")]
        assert values and all(math.isfinite(v) for v in values), (name, values)
    assert 0.0 <= m["student"]["accuracy"] <= 1.0 and m["train"]["steps"] > 0


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - COVERED_ELSEWHERE))
def test_every_method_preset_runs(preset, make_text_config, make_image_run):
    if _is_transformer_method(preset):
        raw = make_text_config(preset, train__epochs=1)
        raw["student"] = {"model": "transformer", "kwargs": dict(TINY_TRANSFORMER)}
        raw["train"]["batch_size"] = 32
    else:
        raw = make_image_run(preset)
    raw["distill"] = {"method": preset, "proj_dim": 8}
    m = run(raw, quiet=True)
    assert m["train"]["method"] == preset and m["train"]["terms"] == PRESETS[preset]
    _check(m, raw, [n for n, w in PRESETS[preset].items() if w != 0])
    if preset in ("tinybert", "minilm"):
        assert m["teacher"]["outputs"] == "live"  # q/k/v are never cached


def test_embedding_and_logit_terms_on_text_with_cached_teacher(make_text_config):
    raw = make_text_config("text_zoo", train__epochs=1)
    raw["distill"] = {"proj_dim": 8, "terms": {
        "ce": {"weight": 1.0}, "dkd": {"weight": 1.0, "params": {"warmup_steps": 2}}, "rkd": {"weight": 1.0},
        "pkt": {"weight": 100.0}, "crd": {"weight": 1.0, "params": {"mode": "memory", "num_negatives": 16}},
        "srrl": {"weight": 1.0, "params": {"connector": "mlp"}}}}
    m = run(raw, quiet=True)
    assert m["teacher"]["outputs"] == "cached"
    _check(m, raw, ["ce", "dkd", "rkd", "pkt", "crd", "srrl"])


def test_transformer_terms_with_hf_student_and_layer_maps(make_text_config, hf_teacher_dir):
    raw = make_text_config("hf_zoo", train__epochs=1)
    raw["student"] = {"model": f"hf:{hf_teacher_dir}",
                      "kwargs": {"attn_implementation": "eager", "num_hidden_layers": 1, "hidden_size": 16}}
    raw["train"]["batch_size"] = 32
    raw["distill"] = {"terms": {
        "ce": {"weight": 1.0}, "fitnet": {"weight": 1.0, "params": {"student_layer": "last", "teacher_layer": 1}},
        "tinybert": {"weight": 1.0, "params": {"layer_map": [[1, 2]]}},
        "minilm": {"weight": 1.0, "params": {"layer_map": "uniform", "num_relation_heads": 4}}}}
    m = run(raw, quiet=True)
    _check(m, raw, ["ce", "fitnet", "tinybert", "minilm"])


@pytest.mark.parametrize("case", ["text_cnn_tinybert", "cnn_minilm", "bad_layer"])
def test_unmet_requirements_fail_before_training(case, make_text_config, make_image_run, tmp_path):
    if case == "text_cnn_tinybert":
        raw = make_text_config("fail")
        raw["distill"] = {"method": "tinybert"}
        expect = "needs student hidden_states, qkv"
    elif case == "cnn_minilm":
        raw = make_image_run("fail")
        raw["distill"] = {"method": "minilm"}
        expect = "needs student qkv"
    else:
        raw = make_text_config("fail")
        raw["student"] = {"model": "transformer", "kwargs": dict(TINY_TRANSFORMER)}
        raw["distill"] = {"terms": {"tinybert": {"params": {"layer_map": [[2, 1]]}}}}
        expect = r"layer pair \[2, 1\] is out of range"
    with pytest.raises(DistilleryError, match=expect) as e:
        run(raw, quiet=True)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "fail").exists()


def test_methods_command_lists_every_method(capsys, monkeypatch):
    from distillery.cli import main

    monkeypatch.setenv("COLUMNS", "400")
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    for name, cls in TERMS.items():
        assert name in out and cls.reference and cls.reference in out
        for need in cls.needs_student | cls.needs_teacher:
            assert need in out
    assert "pkt=30000" in out and "fitnet=100" in out
