"""`distillery export`: ONNX export with parity against PyTorch, int8 with its accuracy change, and running the
export (predict / eval) with ONNX Runtime, for the text CNN, the transformer student and ResNet-20."""
from __future__ import annotations

import json
from pathlib import Path

import lightning  # noqa: F401  (imported before any capsys test: its console handler binds to the session's stderr)
import pytest

from distillery.api import evaluate, predict, run
from distillery.cli import main
from distillery.export import export_run

TRANSFORMER = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32,
               "max_position_embeddings": 32, "dropout": 0.0}
INT8_BOUND = 0.15  # the most int8 may cost in test accuracy on these toy tasks (a few dozen test examples)


def _finished(raw: dict, epochs: int = 3) -> Path:
    raw["distill"]["method"] = "scratch"  # the export needs the student only
    if raw["teacher"]["model"].startswith("hf:"):
        raw["student"].setdefault("tokenizer", raw["teacher"]["model"][3:])
    raw["teacher"] = None
    raw["train"]["epochs"] = epochs
    run(raw, quiet=True)
    return Path(raw["output"]["dir"])


@pytest.mark.parametrize("student", ["text_cnn", "transformer", "resnet20"])
def test_export_parity_int8_and_running_the_export(student, make_text_config, make_image_config, tmp_path, capsys):
    if student == "resnet20":
        d = _finished(make_image_config("run"), epochs=2)
    else:
        raw = make_text_config("run")
        if student == "transformer":
            raw["student"] = {"model": "transformer", "kwargs": TRANSFORMER, "tokenizer": raw["teacher"]["model"][3:]}
        d = _finished(raw, epochs=8)
    out = tmp_path / "exported"
    assert main(["export", str(d), "--quantize", "int8", "--out", str(out), "-q"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    info = json.loads((out / "export.json").read_text())
    assert printed["parity"] == info["parity"]
    parity = info["parity"]
    assert parity["max_abs_logit_diff"] <= 1e-4 * max(1.0, parity["logit_scale"]) and parity["inputs"] > 1
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file() and (out / "config.yaml").is_file()
    assert info["files"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    torch_acc = evaluate(d, quiet=True)["accuracy"]
    assert info["accuracy"]["fp32"] == pytest.approx(torch_acc, abs=1e-6)  # the fp32 export scores as PyTorch does
    assert abs(info["accuracy"]["int8"] - info["accuracy"]["fp32"]) <= INT8_BOUND
    assert info["int8"]["method"].startswith("dynamic" if student == "transformer" else "static")  # conv nets
    # running the export: the same commands, the same output format, no PyTorch model involved
    m = evaluate(out, quiet=True)
    assert m["model"] == "int8" and m["accuracy"] == pytest.approx(info["accuracy"]["int8"], abs=1e-6)
    if student != "resnet20":
        texts = ["please check my account balance today", "my card was stolen please block it"]
        a, b = predict(d, texts), predict(out, texts)
        assert [r.keys() for r in a] == [r.keys() for r in b] and [r["input"] for r in b] == texts
        fp32 = __import__("distillery.export", fromlist=["OnnxStudent"]).OnnxStudent(out, "fp32").predict(texts)
        assert [r["label"] for r in fp32] == [r["label"] for r in a]
        assert all(abs(x["confidence"] - y["confidence"]) <= 1e-3 for x, y in zip(fp32, a, strict=True))
        assert main(["predict", str(out), texts[0]]) == 0
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["input"] == texts[0]


def test_export_refuses_an_existing_folder_and_unknown_options(make_text_config, tmp_path, capsys):
    d = _finished(make_text_config("run"), epochs=1)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    for argv, msg in ((["export", str(d), "--out", str(taken)], "already exists and is not empty"),
                      (["export", str(d), "--format", "tflite"], "--format tflite"),
                      (["export", str(d), "--quantize", "int4"], "--quantize int4"),
                      (["export", str(tmp_path)], "not a finished run directory")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err
    assert (taken / "mine.txt").read_text() == "keep" and not (d / "export").exists()


def test_an_export_folder_is_self_describing(make_image_config, tmp_path):
    d = _finished(make_image_config("run"), epochs=1)
    info = export_run(d, tmp_path / "e", quiet=True)
    assert info["modality"] == "image" and info["image_size"] == [16, 16] and info["inputs"] == ["pixel_values"]
    assert set(info["input"]) >= {"mean", "std"} and info["class_names"] == ["a", "b", "c", "d"]
    assert "int8" not in info["files"] and info["opset"] >= 17


@pytest.mark.parametrize("spec", ["hf", "timm", "torchvision", "mobilenet_v1"])
def test_hub_source_students_export_with_parity(spec, make_text_config, make_image_config, tmp_path):
    """``hf:``, ``timm:``, ``torchvision:`` and MobileNet students go through the same exporter (tiny
    configurations)."""
    if spec == "hf":
        raw = make_text_config("run")
        raw["student"] = {"model": raw["teacher"]["model"]}  # the tiny BERT folder, trained from random init
    else:
        raw = make_image_config("run")
        raw["student"] = ({"model": "timm:vit_tiny_patch16_224", "kwargs": {"img_size": 32, "patch_size": 8,
                                                                             "embed_dim": 32, "depth": 1,
                                                                             "num_heads": 2}}
                          if spec == "timm" else {"model": "torchvision:mobilenet_v3_small"} if spec == "torchvision"
                          else {"model": "mobilenet_v1"})
    d = _finished(raw, epochs=1)
    info = export_run(d, tmp_path / "e", quiet=True)
    parity = info["parity"]
    assert parity["max_abs_logit_diff"] <= 1e-4 * max(1.0, parity["logit_scale"])
    assert info["accuracy"]["fp32"] == pytest.approx(evaluate(d, quiet=True)["accuracy"], abs=1e-6)


def test_a_torchvision_model_without_a_linear_classifier_is_one_line(make_image_config, tmp_path, capsys):
    raw = make_image_config("run")
    raw["student"] = {"model": "torchvision:squeezenet1_1"}
    cfg = tmp_path / "sq.yaml"
    cfg.write_text(__import__("yaml").safe_dump(raw))
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "its classifier is not a Linear layer" in err and "Traceback" not in err


def test_predicting_with_an_export_imports_no_torch(make_text_config, tmp_path):
    import subprocess
    import sys

    d = _finished(make_text_config("run"), epochs=1)
    export_run(d, tmp_path / "e", quiet=True)
    code = ("import sys, json; from distillery.cli import main; "
            "rc = main(['predict', sys.argv[1], 'my card was lost']); "
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "e")], capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"rc": 0, "torch": False}, r.stderr[-2000:]
    assert json.loads(lines[0])["input"] == "my card was lost"
