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
