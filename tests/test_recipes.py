"""`distillery run --data PATH --teacher SPEC`: a whole run without YAML, columns inferred, config written."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import yaml

from distillery.data.columns import infer_label_column, infer_text_column
from distillery.recipes import modality_of, recipe_config

TINY = ["--set", "student.kwargs.hidden_size=16", "--set", "student.kwargs.intermediate_size=32",
        "--set", "student.kwargs.num_heads=2", "--set", "train.epochs=1",
        "--set", "distill.proj_dim=8", "--set", "data.max_length=16", "--set", "train.progress=false"]


def _cli(*args: str):
    return subprocess.run([sys.executable, "-m", "distillery.cli", "run", *args], capture_output=True, text=True,
                          timeout=600)


def test_run_without_yaml_infers_columns_and_writes_the_resolved_config(text_data_dir, hf_teacher_dir, tmp_path):
    out = tmp_path / "run"
    r = _cli("--data", str(text_data_dir), "--teacher", f"hf:{hf_teacher_dir}", "--out", str(out), *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "student accuracy" in r.stdout
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["data"]["label_column"] == "intent" and cfg["data"]["text_column"] == "text"  # 'intent' inferred
    assert cfg["student"]["model"] == "transformer" and cfg["distill"]["method"] == "kd"
    assert cfg["train"]["epochs"] == 1 and (out / "metrics.json").is_file()
    assert cfg["data"]["text_augment"]["copies"] == 3 and cfg["data"]["text_augment"]["labelled"]
    teacher = json.loads((out / "metrics.json").read_text())["teacher"]
    assert cfg["teacher"]["head"] == "auto" and teacher["head"] in ("lp", "ft")  # what the validation split chose
    info = teacher["head_info"]
    assert {"probe_val_accuracy", "ft_val_accuracy", "chosen"} <= set(info) and info["chosen"] == teacher["head"]


def _table(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_ambiguous_columns_are_one_error_line_naming_them(hf_teacher_dir, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    rows = [[f"the card number {i} is lost", f"some other words {i}", ["a", "b"][i % 2]] for i in range(40)]
    _table(d / "train.csv", ["body", "title", "kind"], rows)
    r = _cli("--data", str(d), "--teacher", f"hf:{hf_teacher_dir}", "--out", str(tmp_path / "run"), *TINY)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "cannot tell which column holds the text" in line and "body, title" in line and "data.text_column" in line
    assert not (tmp_path / "run").exists()
    ok = _cli("--data", str(d), "--teacher", f"hf:{hf_teacher_dir}", "--out", str(tmp_path / "run2"),
              "--set", "data.text_column=body", *TINY)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert yaml.safe_load((tmp_path / "run2" / "config.yaml").read_text())["data"]["label_column"] == "kind"


@pytest.mark.parametrize("args, needle", [
    (["x.yaml", "--data", "d"], "not both"),
    (["--data", "somewhere"], "both --data PATH and --teacher SPEC"),
    (["--teacher", "hf:x"], "both --data PATH and --teacher SPEC"),
])
def test_recipe_usage_errors(args, needle, tmp_path):
    r = _cli(*args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_column_inference_rules():
    assert infer_label_column({"utterance": ["a b c", "d e"], "Category": ["x", "y"]}) == "Category"
    assert infer_text_column({"utterance": ["a b c", "d e"], "Category": ["x", "y"]}, "Category") == "utterance"
    sample = {"words": [f"w{i} and more" for i in range(10)], "tag": ["p", "q"] * 5}
    assert infer_label_column(sample) == "tag" and infer_text_column(sample, "tag") == "words"
    assert infer_label_column({"a": list(range(10)), "b": list(range(10))}) is None  # no class-like column


def test_recipe_defaults_per_modality(text_data_dir, image_npz, tmp_path):
    assert modality_of(str(text_data_dir)) == "text" and modality_of(str(image_npz)) == "image"
    img = recipe_config(str(image_npz), "resnet20", teacher_weights=str(image_npz), out=str(tmp_path / "r"))
    assert img.student.model == "resnet20" and img.train.optimizer == "sgd" and img.data.augment == "standard"
    default = recipe_config(str(text_data_dir), "hf:x")
    assert default.student.model == "transformer" and default.distill.method == "kd" and default.train.epochs == 6
    aug = default.data.text_augment  # the issue-26 recipe: 3 EDA copies with their labels
    assert aug is not None and aug.copies == 3 and aug.labelled
    txt = recipe_config(str(text_data_dir), "hf:x", student="text_cnn", method="au", overrides=["train.epochs=3"])
    assert txt.student.model == "text_cnn" and txt.distill.method == "au" and txt.train.epochs == 3
    assert txt.teacher.head == "auto" and img.teacher.head == "lp"  # text: the stronger of probe and fine-tune
    assert txt.output.dir == f"runs/{text_data_dir.name}_au"
