"""The bad-input catalogue: each case ends with one actionable line on stderr and exit code 2, no traceback, and
nothing created or overwritten."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from distillery.cli import main


def _write(tmp_path: Path, raw) -> str:
    p = tmp_path / "exp.yaml"
    p.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return str(p)


def _text_csv(tmp_path: Path, header: str, rows: list[str]) -> str:
    d = tmp_path / "csvdata"
    d.mkdir(exist_ok=True)
    for split in ("train", "test"):
        (d / f"{split}.csv").write_text("\n".join([header, *rows]) + "\n")
    return str(d)


def _case(name, tmp_path, text, image):
    """(argv, expected message part) for one catalogue case."""
    t = text("out")
    if name == "config_missing":
        return ["run", str(tmp_path / "nope.yaml")], "config file not found"
    if name == "yaml_invalid":
        return ["run", _write(tmp_path, "data: [unclosed\n")], "not valid YAML"
    if name == "yaml_not_mapping":
        return ["run", _write(tmp_path, "- a\n- b\n")], "must be a mapping"
    if name == "unknown_section":
        t["trainer"] = {}
        return ["run", _write(tmp_path, t)], "trainer: unknown key"
    if name == "unknown_key":
        t["student"]["foo"] = 1
        return ["run", _write(tmp_path, t)], "student.foo: unknown key"
    if name == "wrong_type":
        t["train"]["epochs"] = "many"
        return ["run", _write(tmp_path, t)], "train.epochs"
    if name == "missing_source":
        del t["data"]["source"]
        return ["run", _write(tmp_path, t)], "data.source: required key is missing"
    if name == "negative_lr":
        t["train"]["lr"] = -1
        return ["run", _write(tmp_path, t)], "train.lr"
    if name == "bad_precision_literal":
        t["distill"]["projector"] = "cubic"
        return ["run", _write(tmp_path, t)], "distill.projector"
    if name == "set_without_equals":
        return ["run", _write(tmp_path, t), "--set", "train.epochs"], "expected KEY=VALUE"
    if name == "set_into_value":
        return ["run", _write(tmp_path, t), "--set", "train.epochs.x=1"], "is not a section"
    if name == "budget_two_keys":
        t["train"]["budget"] = {"flops": 1e9, "steps": 3}
        return ["run", _write(tmp_path, t)], "train.budget"
    if name == "unknown_method":
        return ["run", _write(tmp_path, t), "--method", "telepathy"], "telepathy"
    if name == "unknown_term":
        t["distill"]["terms"] = {"magic": {"weight": 1.0}}
        return ["run", _write(tmp_path, t)], "magic"
    if name == "bad_term_params":
        t["distill"]["terms"] = {"ce": {"weight": 1.0}, "kd": {"weight": 1.0, "params": {"bogus": 1}}}
        return ["run", _write(tmp_path, t)], "distill.terms.kd.params"
    if name == "source_missing":
        t["data"]["source"] = str(tmp_path / "no_such_dir")
        return ["run", _write(tmp_path, t)], "data.source: file or folder not found"
    if name == "label_column_missing":
        t["data"]["label_column"] = "label"
        return ["run", _write(tmp_path, t)], "label"
    if name == "text_column_missing":
        t["data"]["text_column"] = "utterance"
        return ["run", _write(tmp_path, t)], "utterance"
    if name == "empty_data":
        t["data"]["source"] = _text_csv(tmp_path, "text,intent", [])
        return ["run", _write(tmp_path, t)], "empty"
    if name == "single_class":
        t["data"]["source"] = _text_csv(tmp_path, "text,intent", [f"hello {i},a" for i in range(20)])
        return ["run", _write(tmp_path, t)], "class"
    if name == "npz_missing_arrays":
        p = tmp_path / "bad.npz"
        np.savez(p, something=np.zeros(3))
        i = image("out")
        i["data"]["source"] = str(p)
        return ["run", _write(tmp_path, i)], "bad.npz"
    if name == "unknown_student":
        t["student"]["model"] = "resnet9000"
        return ["run", _write(tmp_path, t)], "unknown model spec"
    if name == "teacher_weights_missing":
        i = image("out")
        i["teacher"]["weights"] = str(tmp_path / "none.th")
        return ["run", _write(tmp_path, i)], "teacher.weights: file or folder not found"
    if name == "builtin_teacher_without_weights":
        i = image("out")
        del i["teacher"]["weights"]
        return ["run", _write(tmp_path, i)], "set teacher.weights"
    if name == "hf_dir_missing":
        t["teacher"]["model"] = f"hf:{tmp_path / 'no_model'}"
        return ["run", _write(tmp_path, t)], "teacher.model: local model not found"
    if name == "corrupt_weights":
        bad = tmp_path / "garbage.safetensors"
        bad.write_bytes(b"this is not a safetensors file")
        i = image("out")
        i["teacher"]["weights"] = str(bad)
        return ["run", _write(tmp_path, i)], "garbage.safetensors"
    if name == "modality_mismatch":
        t["student"] = {"model": "resnet20"}
        return ["run", _write(tmp_path, t)], "image model but the data is text"
    if name == "vocab_too_small":
        t["student"]["kwargs"]["vocab_size"] = 5
        return ["run", _write(tmp_path, t)], "smaller than the tokenizer"
    if name == "tokenizer_missing":
        t["student"]["tokenizer"] = str(tmp_path / "no_tokenizer")
        return ["run", _write(tmp_path, t)], "no_tokenizer"
    if name == "method_needs_teacher":
        t["teacher"] = None
        return ["run", _write(tmp_path, t)], "needs a teacher"
    if name == "cnn_asked_for_attentions":
        return ["run", _write(tmp_path, t), "--method", "minilm"], "text_cnn"
    if name == "existing_run_dir":
        Path(t["output"]["dir"]).mkdir(parents=True)
        (Path(t["output"]["dir"]) / "keep.txt").write_text("mine")
        return ["run", _write(tmp_path, t)], "already exists and is not empty"
    if name == "eval_not_a_run":
        return ["eval", str(tmp_path)], "not a run directory"
    if name == "predict_not_a_run":
        return ["predict", str(tmp_path), "hello"], "not a finished run directory"
    if name == "resume_not_a_run":
        return ["run", "--resume", str(tmp_path)], "not a distillery run directory"
    if name == "resume_with_config":
        return ["run", _write(tmp_path, t), "--resume", str(tmp_path)], "--resume takes the run directory only"
    if name == "run_without_config":
        return ["run"], "give an experiment YAML file"
    if name == "compare_unknown_arm":
        return ["compare", _write(tmp_path, t), "--arms", "scratch,nonsense"], "unknown arm"
    if name == "compare_bad_budget":
        return ["compare", _write(tmp_path, t), "--budget", "lots"], "--budget"
    if name == "report_no_runs":
        return ["report", str(tmp_path)], "no finished runs"
    raise AssertionError(name)


CASES = ["config_missing", "yaml_invalid", "yaml_not_mapping", "unknown_section", "unknown_key", "wrong_type",
         "missing_source", "negative_lr", "bad_precision_literal", "set_without_equals", "set_into_value",
         "budget_two_keys", "unknown_method", "unknown_term", "bad_term_params", "source_missing",
         "label_column_missing", "text_column_missing", "empty_data", "single_class", "npz_missing_arrays",
         "unknown_student", "teacher_weights_missing", "builtin_teacher_without_weights", "hf_dir_missing",
         "corrupt_weights", "modality_mismatch", "vocab_too_small", "tokenizer_missing", "method_needs_teacher",
         "cnn_asked_for_attentions", "existing_run_dir", "eval_not_a_run", "predict_not_a_run", "resume_not_a_run",
         "resume_with_config", "run_without_config", "compare_unknown_arm", "compare_bad_budget", "report_no_runs"]


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, tmp_path, make_text_config, make_image_config, capsys):
    argv, expected = _case(name, tmp_path, make_text_config, make_image_config)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing created
    assert all(p.read_bytes() == b for p, b in snapshot.items())  # nothing overwritten


def test_catalogue_size():
    assert len(CASES) >= 30 and len(set(CASES)) == len(CASES)
    json.dumps(CASES)
