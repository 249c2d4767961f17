"""benchmarks/text_thesis.py and image_thesis.py: the crossing point, the shares and the ImageNet route's arithmetic
that their JSON and docs report."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))  # image_thesis imports text_thesis's helpers
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def text_thesis():
    return _load("text_thesis")


def test_crossing_interpolates_in_log_flops(text_thesis):
    pts = [(1e13, 0.90), (1e14, 0.92), (3e14, 0.93)]
    assert text_thesis.crossing(pts, 0.91) == pytest.approx(10 ** 13.5)  # halfway in accuracy: halfway in log FLOPs
    assert text_thesis.crossing(pts, 0.92) == pytest.approx(1e14)
    assert text_thesis.crossing(pts, 0.89) == 1e13  # the smallest budget already reaches it: an upper bound
    assert text_thesis.crossing(pts, 0.95) is None  # not reached within the largest budget
    assert text_thesis.crossing(list(reversed(pts)), 0.91) == pytest.approx(10 ** 13.5)  # order does not matter


def _metrics(run: Path, acc: float, flops: float) -> None:
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({
        "student": {"accuracy": acc}, "teacher": {"accuracy": 0.93},
        "train": {"train_time_s": 10.0, "precision": "32-true", "epochs": 20},
        "compute": {"total_flops": flops}}))


def test_arm_summary_adds_the_pretraining_flops(text_thesis, tmp_path):
    runs = []
    for s, acc in enumerate((0.90, 0.92)):
        runs.append(tmp_path / f"finetune_s{s}")
        _metrics(runs[-1], acc, 2e13)
    a = text_thesis.arm_summary(runs, extra_flops=1e14)
    assert a["mean"] == pytest.approx(0.91) and a["std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert a["total_flops"] == pytest.approx(1.2e14) and a["run_flops"] == 2e13 and a["pretrain_flops"] == 1e14
    assert a["seeds"] == 2 and a["epochs"] == [20] and a["precision"] == ["32-true"]


def test_the_imagenet_route_arithmetic():
    image = _load("image_thesis")
    r = image.imagenet_pretraining_flops()
    assert r["flops"] == pytest.approx(6 * 41e6 * 1_281_167 * 120)  # 3.78e16
    assert r["flops"] == pytest.approx(3.78e16, rel=1e-3)
    assert "41" in r["sources"]["macs"] and "120 epochs" in r["sources"]["epochs"]
    assert image.counted_macs_224() == pytest.approx(41e6, rel=0.01)  # the port's count agrees with the paper's


def test_cifar_recipe_resumes_from_the_json_alone(tmp_path, monkeypatch):
    """benchmarks/cifar_recipe.py records every seed as it ends and runs only seeds the JSON lacks, so a study whose
    run directories are gone (a new checkout) continues; an arm recorded before per-seed records is migrated."""
    import distillery.report.compare as compare_mod

    recipe = _load("cifar_recipe")
    ran: list[tuple[str, int]] = []

    def fake_compare(config, arms, seeds, out, overrides, quiet):
        seed = int(next(o for o in overrides if o.startswith("train.seed=")).split("=")[1])
        ran.append((arms[0], seed))
        _metrics(Path(out) / f"{arms[0]}_s{seed}", 0.80 + 0.01 * seed + (0.02 if arms[0] == "kd" else 0.0), 1e14)

    monkeypatch.setattr(compare_mod, "compare", fake_compare)
    out = tmp_path / "r.json"
    common = ["data.seed=0", "train.progress=false", "train.num_threads=2"]
    out.write_text(json.dumps({"studies": {"t": {"common": common, "arms": {"scratch": {  # the old layout
        "accuracy": [0.79], "seeds": 1, "epochs": [25], "mean": 0.79, "std": 0.0, "total_flops": 1e14,
        "run_flops": 1e14, "pretrain_flops": 0.0, "teacher_accuracy": None, "teacher_head": None,
        "teacher_head_info": None, "train_time_s": 9.0, "precision": ["bf16-mixed"], "commit": "abc",
        "runs": ["/gone/scratch_s0"], "overrides": common}}}}}))

    def main(*argv: str) -> dict:
        monkeypatch.setattr(sys, "argv", ["cifar_recipe.py", "--tag", "t", "--out", str(out),
                                          "--runs", str(tmp_path / "runs"), *argv])
        recipe.main()
        return json.loads(out.read_text())["studies"]["t"]

    study = main("--seeds", "2")
    assert ran == [("kd", 0), ("kd", 1), ("scratch", 1)]  # scratch seed 0 is taken from the JSON, not rerun
    assert study["arms"]["scratch"]["accuracy"] == [0.79, 0.81] and study["arms"]["kd"]["seeds"] == 2
    assert study["gap_points"]["kd"] == pytest.approx(100 * ((0.82 - 0.79) + (0.83 - 0.81)) / 2)
    import shutil

    shutil.rmtree(tmp_path / "runs")  # a new checkout: the run directories are gone
    ran.clear()
    study = main("--seeds", "3")
    assert ran == [("kd", 2), ("scratch", 2)]
    assert study["arms"]["kd"]["accuracy"] == pytest.approx([0.82, 0.83, 0.84])
    assert "| t | kd | 3 | 83.00 ± 1.00 | +2.33 |" in recipe.table(json.loads(out.read_text()))
    ran.clear()  # --only-seeds: a variant tried on one seed; its gap counts the seeds scratch shares
    study = main("--only-seeds", "1", "--variant", "T1", "--kd-set", "distill.temperature=1")
    assert ran == [("kd", 1)] and list(study["arms"]["kd (T1)"]["per_seed"]) == ["1"]
    assert study["gap_points"]["kd (T1)"] == pytest.approx(100 * (0.83 - 0.81))


def test_teacher_soft_label_stats():
    """A confident teacher leaves little mass on the wrong classes, and a higher temperature spreads it; a
    uniform one has the uniform entropy and (C-1)/C of its mass on the wrong classes."""
    import torch

    stats = _load("teacher_soft_labels").soft_label_stats
    labels = torch.tensor([0, 1, 2, 3])
    confident = torch.full((2, 4, 10), -5.0)
    confident[:, torch.arange(4), labels] = 5.0  # 2 views, 4 samples, the label's logit 10 above the rest
    s = stats(confident, labels, (1.0, 4.0))
    assert s["accuracy"] == 1.0 and s["views"] == 2 and s["samples"] == 4
    assert s["T=1"]["wrong_mass"] == pytest.approx(9 / (9 + math.exp(10)), rel=1e-3)
    assert s["T=4"]["wrong_mass"] == pytest.approx(9 / (9 + math.exp(2.5)), rel=1e-4)
    assert s["T=4"]["entropy"] > s["T=1"]["entropy"]
    u = stats(torch.zeros(1, 4, 10), labels, (1.0,))
    assert u["T=1"]["entropy"] == pytest.approx(math.log(10)) and u["T=1"]["wrong_mass"] == pytest.approx(0.9)
    wrong = confident.clone()
    wrong[0, 0] = wrong[0, 0].roll(1)  # one of the 8 (view, sample) pairs argmaxes the wrong class
    assert stats(wrong, labels, (1.0,))["accuracy"] == pytest.approx(7 / 8)
