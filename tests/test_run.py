"""End to end: `distillery.run` and the CLI on tiny local models and generated data."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from distillery.api import evaluate, load_student, predict, run
from distillery.cli import main
from distillery.errors import DistilleryError


@pytest.mark.parametrize("method", ["scratch", "kd", "au"])
def test_text_run_every_preset(make_text_config, method):
    raw = make_text_config(method)
    raw["distill"]["method"] = method
    m = run(raw, quiet=True)
    out = raw["output"]["dir"]
    for key in ("accuracy", "best_accuracy", "params"):
        assert key in m["student"]
    assert 0.0 <= m["student"]["accuracy"] <= 1.0 and m["train"]["epochs"] == 2
    # validation every epoch selects; the test split is scored once, at the end (train.test_every_epoch off)
    assert len(m["history"]) == 2 and "test/acc" not in m["history"][-1] and "val/acc" in m["history"][-1]
    assert m["student"]["best_accuracy"] is None
    if method == "scratch":
        assert m["teacher"] is None
    else:
        assert 0.0 <= m["teacher"]["accuracy"] <= 1.0 and m["teacher"]["params"] > 0
        assert m["teacher"]["outputs"] == "cached" and m["teacher"]["cache"]["views"] == 1  # text: one view
        assert f"train/{method if method == 'kd' else 'align_uniform'}" in m["history"][-1]
    on_disk = json.loads(open(f"{out}/metrics.json").read())
    assert on_disk["student"]["accuracy"] == m["student"]["accuracy"]
    for f in ("config.yaml", "student.safetensors", "student.json", "tokenizer", "logs", "checkpoints/last.ckpt"):
        assert (Path(out) / f).exists(), f


def test_student_checkpoint_has_no_teacher_and_run_dir_suffices(make_text_config, hf_teacher_dir):
    raw = make_text_config("au")
    run(raw, quiet=True)
    out = raw["output"]["dir"]
    ckpt = torch.load(f"{out}/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    keys = ckpt["state_dict"].keys()
    assert any(k.startswith("student.") for k in keys) and any(k.startswith("losses.") for k in keys)
    assert not any("teacher" in k and not k.startswith("losses.") for k in keys)
    assert not any(k.startswith(("_teacher", "teacher.")) for k in keys)
    from safetensors.torch import load_file

    assert all(not k.startswith(("losses", "teacher")) for k in load_file(f"{out}/student.safetensors"))
    # eval / predict from the run directory alone
    net, meta, tok = load_student(out)
    assert meta["class_names"] == ["balance", "card", "flight", "weather"]
    ev = evaluate(out, quiet=True)
    recorded = json.load(open(f"{out}/metrics.json"))["student"]["accuracy"]
    assert ev["num_test"] == 48 and abs(ev["accuracy"] - recorded) < 1e-6
    preds = predict(out, ["my flight ticket please", "rain forecast today"])
    assert [p["label"] in meta["class_names"] for p in preds] == [True, True]


def test_run_is_deterministic(make_text_config):
    a = run(make_text_config("a"), quiet=True)
    b = run(make_text_config("b"), quiet=True)
    assert a["history"][-1]["train/loss"] == b["history"][-1]["train/loss"]
    assert a["student"]["accuracy"] == b["student"]["accuracy"]


def test_distillation_learns_the_tiny_text_task(make_text_config):
    raw = make_text_config("learn", train__epochs=8)
    m = run(raw, quiet=True)
    assert m["student"]["accuracy"] >= 0.75  # 4 classes: chance is 0.25


def test_image_run_live_teacher_with_augmentation(make_image_config):
    raw = make_image_config("img")
    raw["teacher"]["cache"] = "off"
    m = run(raw, quiet=True)
    assert m["teacher"]["outputs"] == "live" and m["teacher"]["head"] == "pretrained"
    assert m["teacher"]["accuracy"] > 0.5 and m["student"]["params"] == m["teacher"]["params"]


def test_image_run_with_augmentation_caches_one_view_per_epoch_and_matches_live(make_image_config):
    live = make_image_config("img_live", train__epochs=2)
    live["teacher"]["cache"] = "off"
    cached = make_image_config("img_cached", train__epochs=2)
    cached["teacher"]["cache"] = "auto"
    cached["teacher"]["cache_dtype"] = "fp32"
    m_live, m_cached = run(live, quiet=True), run(cached, quiet=True)
    assert m_cached["teacher"]["outputs"] == "cached"
    assert m_cached["teacher"]["cache"]["views"] == m_cached["train"]["epochs"]
    # the student sees the same augmented views, and the teacher's outputs on them come from the cache
    for a, b in zip(m_live["history"], m_cached["history"], strict=True):
        assert abs(a["train/loss"] - b["train/loss"]) < 1e-4
    again = make_image_config("img_cached2", train__epochs=2)
    again["teacher"]["cache"] = "auto"
    again["teacher"]["cache_dtype"] = "fp32"
    m_again = run(again, quiet=True)
    assert m_again["teacher"]["cache"]["status"] == "reused"
    assert m_again["teacher"]["cache"]["path"] == m_cached["teacher"]["cache"]["path"]


def test_image_run_without_augmentation_precomputes(make_image_config):
    raw = make_image_config("img2", data__augment="none")
    raw["train"]["precision"] = "bf16-mixed"
    raw["train"]["channels_last"] = True
    m = run(raw, quiet=True)
    assert m["teacher"]["outputs"] == "cached"


def test_existing_run_dir_is_never_overwritten(make_text_config):
    raw = make_text_config("keep")
    run(raw, quiet=True)
    before = open(f"{raw['output']['dir']}/metrics.json").read()
    with pytest.raises(DistilleryError, match="already exists"):
        run(raw, quiet=True)
    assert open(f"{raw['output']['dir']}/metrics.json").read() == before


def test_teacher_head_mismatch_with_head_none(make_image_config, tmp_path):
    import numpy as np

    raw = make_image_config("mismatch")
    z = dict(np.load(raw["data"]["source"]))
    z["train_labels"] = (np.arange(len(z["train_labels"])) % 5).astype(np.uint8)
    z["classes"] = np.array(list("abcde"))
    p = tmp_path / "five.npz"
    np.savez(p, **z)
    raw["data"]["source"] = str(p)
    raw["teacher"]["head"] = "none"
    with pytest.raises(DistilleryError, match=r"teacher.head is 'none' but checkpoint head \(4, 64\) vs 5"):
        run(raw, quiet=True)
    assert not (tmp_path / "mismatch").exists()  # a failed run leaves no half-written directory


def _cli(tmp_path, raw, *args):
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, "-m", "distillery.cli", "run", str(p), *args], capture_output=True,
                          text=True, timeout=600)
    return proc


# in a real subprocess (exit code, stderr); the full catalogue runs in-process in tests/test_bad_inputs.py
@pytest.mark.parametrize("case", ["missing_label", "no_teacher"])
def test_cli_bad_input_one_line_exit_2(make_text_config, tmp_path, case):
    raw = make_text_config("bad")
    expect = {"unknown_model": "unknown model spec", "missing_label": "no label column",
              "bad_vocab": "smaller than the tokenizer", "bad_key": "student.foo: unknown key",
              "no_teacher": "needs a teacher"}[case]
    if case == "unknown_model":
        raw["student"]["model"] = "resnet9000"
    elif case == "missing_label":
        raw["data"]["label_column"] = "label"
    elif case == "bad_vocab":
        raw["student"]["kwargs"]["vocab_size"] = 5
    elif case == "bad_key":
        raw["student"]["foo"] = 1
    elif case == "no_teacher":
        raw["teacher"] = None
    proc = _cli(tmp_path, raw)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad").exists() or case in ("bad_key",)


def test_cli_run_method_override_and_set(make_text_config, tmp_path, capsys):
    raw = make_text_config("cli")
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(raw))
    assert main(["run", str(p), "--method", "kd", "--set", "train.epochs=1", "-q"]) == 0
    m = json.load(open(tmp_path / "cli" / "metrics.json"))
    assert m["train"]["method"] == "kd" and m["train"]["epochs"] == 1
    assert "student accuracy" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "cli")]) == 0
    assert main(["predict", str(tmp_path / "cli"), "lost card"]) == 0
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert main(["methods"]) == 0


def test_python_api_and_finetuned_teacher_head(make_text_config):
    import distillery

    raw = make_text_config("ft", train__epochs=1)
    raw["teacher"].update(head="ft", head_epochs=1, head_lr=1e-3)
    m = distillery.run(raw, quiet=True)
    assert m["teacher"]["head"] == "ft" and not m["teacher"]["head_reused"]
    raw2 = make_text_config("ft2", train__epochs=1)
    raw2["teacher"].update(head="ft", head_epochs=1, head_lr=1e-3)
    m2 = distillery.run(raw2, quiet=True)
    assert m2["teacher"]["head_reused"] and m2["teacher"]["accuracy"] == m["teacher"]["accuracy"]


def test_history_matches_the_logs_and_the_selected_checkpoint(make_text_config):
    import csv

    raw = make_text_config("hist", train__epochs=4, train__test_every_epoch=True)  # the DAPT protocol's curve
    m = run(raw, quiet=True)
    hist = m["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    rows = [r for r in csv.DictReader(open(Path(raw["output"]["dir"]) / "logs" / "metrics.csv")) if r.get("test/acc")]
    assert [round(float(r["test/acc"]), 6) for r in rows] == [h["test/acc"] for h in hist]  # same epoch, same value
    train_rows = [r for r in csv.DictReader(open(Path(raw["output"]["dir"]) / "logs" / "metrics.csv"))
                  if r.get("train/loss_epoch")]
    assert [round(float(r["train/loss_epoch"]), 4) for r in train_rows] == [round(h["train/loss"], 4) for h in hist]
    best = max(hist, key=lambda h: h["val/acc"])  # ModelCheckpoint keeps the first best
    assert abs(m["student"]["accuracy"] - best["test/acc"]) < 1e-6
    assert m["student"]["best_accuracy"] == max(h["test/acc"] for h in hist)
    assert m["student"]["last_accuracy"] == hist[-1]["test/acc"]


def test_compiled_student_trains_and_saves_plain_weights(make_text_config):
    raw = make_text_config("compiled", train__epochs=1)
    raw["train"]["compile"] = True
    m = run(raw, quiet=True)
    assert m["train"]["steps"] > 0 and 0.0 <= m["student"]["accuracy"] <= 1.0
    net, _, _ = load_student(raw["output"]["dir"])  # parameter names are those of the plain module
    assert not any("_orig_mod" in k for k in net.state_dict())
