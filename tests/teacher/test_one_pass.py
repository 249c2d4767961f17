"""The teacher runs once per training input (per view): the probe's pass is the output cache, and the FLOPs
charged are exactly those forward passes (issue 25)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from distillery.api import run
from distillery.compute.peak import bf16_supported
from distillery.data.samplers import SortedBatchSampler


def _fp32(raw: dict) -> dict:
    raw["teacher"]["precision"] = "fp32"
    return raw


def test_probe_pass_is_the_cache_and_flops_are_one_forward_per_input(make_text_config, tmp_path):
    # max_length 6 truncates every generated sentence (6 words + 2 special tokens) to 6 tokens: one forward costs
    # the same FLOPs for every example, so "once per input" is an exact count
    raw = make_text_config("a", data__max_length=6)
    raw["teacher"]["cache_dir"] = str(tmp_path / "store")
    m = run(raw, quiet=True)
    t, c = m["teacher"], m["compute"]
    per_sample = c["teacher_forward_flops_per_sample"]
    n_inputs = m["train"]["train_size"] + m["train"]["val_size"]  # the probe's inputs: train and validation
    assert t["head"] == "lp" and not t["head_reused"] and t["cache"]["status"] == "built"
    assert c["phases"]["cache_build"] == 0.0 and t["cache"]["teacher_forward_s"] == 0.0  # no second pass
    forward = c["phases"]["teacher_head"] - t["head_info"]["probe_flops"]
    assert t["head_info"]["probe_flops"] > 0
    assert forward == pytest.approx(per_sample * n_inputs, rel=1e-9)
    assert c["teacher_flops"] == pytest.approx(c["phases"]["teacher_head"])


def test_cache_from_the_probe_pass_equals_a_teacher_pass(make_text_config, tmp_path):
    store = str(tmp_path / "store")
    a = _fp32(make_text_config("a"))
    a["teacher"]["cache_dir"] = store
    ma = run(a, quiet=True)
    b = _fp32(make_text_config("b"))  # the head is reused (no probe pass), the cache built by running the teacher
    b["teacher"].update(cache_dir=store, cache=str(tmp_path / "cache_b"))
    mb = run(b, quiet=True)
    assert mb["teacher"]["head_reused"] and mb["teacher"]["cache"]["teacher_forward_s"] > 0
    assert ma["teacher"]["cache"]["teacher_forward_s"] == 0.0
    for name in ("logits", "embedding"):
        xa = np.load(f"{ma['teacher']['cache']['path']}/{name}.npy")
        xb = np.load(f"{mb['teacher']['cache']['path']}/{name}.npy")
        np.testing.assert_allclose(xa, xb, rtol=1e-5, atol=1e-5)
    assert ma["student"]["accuracy"] == pytest.approx(mb["student"]["accuracy"], abs=1e-6)


def test_images_charge_one_teacher_forward_per_view(make_image_config):
    raw = make_image_config("img", data__augment="standard", train__epochs=2)
    m = run(raw, quiet=True)
    c, t = m["compute"], m["teacher"]
    assert t["head"] == "pretrained" and t["cache"]["views"] == 2
    n = m["train"]["train_size"]
    assert c["phases"].get("teacher_head", 0.0) == 0.0
    assert c["phases"]["cache_build"] == pytest.approx(c["teacher_forward_flops_per_sample"] * n * 2, rel=1e-9)


def test_teacher_precision_defaults_to_fast_bf16_and_fp32_is_one_key_away(make_text_config):
    m = run(make_text_config("auto"), quiet=True)
    assert m["teacher"]["precision"] == ("bf16" if bf16_supported(torch.device("cpu")) else "fp32")
    f = run(_fp32(make_text_config("fp32")), quiet=True)
    assert f["teacher"]["precision"] == "fp32"


def test_sorted_batches_cover_every_example_once_and_shards_split_them(monkeypatch):
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4, 0]
    batches = list(SortedBatchSampler(lengths, 4))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths) and len(batches) == 3
    import distillery.data.samplers as samplers

    parts = []
    for r in (0, 1):
        monkeypatch.setattr(samplers, "world_size", lambda: 2)
        monkeypatch.setattr(samplers, "rank", lambda r=r: r)
        parts += [i for b in SortedBatchSampler(lengths, 4, shard=True) for i in b]
    assert sorted(parts) == list(range(len(lengths)))


def test_train_precision_auto_is_bf16_for_classification_only(make_text_config, make_image_config, monkeypatch):
    """``train.precision: auto``: bf16-mixed for image and text classification where the device has fast bf16,
    fp32 for language-model pre-training and on devices without it."""
    from distillery.config import build_config
    from distillery.tasks import base

    text, image = make_text_config("p_text"), make_image_config("p_image")
    mlm = make_text_config("p_mlm")
    mlm["data"]["task"] = "mlm"
    for fast, want in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(base, "bf16_supported", lambda device, fast=fast: fast)
        assert base.resolve_precision(build_config(text)) == want
        assert base.resolve_precision(build_config(image)) == want
        assert base.resolve_precision(build_config(mlm)) == "32-true"
    text["train"]["precision"] = "32-true"
    assert base.resolve_precision(build_config(text)) == "32-true"  # set: kept


def test_bf16_counts_as_fast_only_where_its_matmuls_measured_faster(tmp_path, monkeypatch):
    """A CPU with the bf16 instructions but bf16 matmuls slower than fp32 (AVX-512 BF16 without AMX) trains in
    fp32 under ``auto``; one whose bf16 matmuls measured at least 1.3x fp32 (AMX) in bf16. The measurement is
    stored with the peak FLOP/s and read back, not repeated."""
    from distillery.compute import peak

    monkeypatch.setenv("DISTILLERY_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    calls: list[torch.dtype] = []
    for bf16, fp32, want in ((141e9, 254e9, False), (1.8e12, 330e9, True), (1.2 * 330e9, 330e9, False)):
        speeds = {torch.bfloat16: bf16, torch.float32: fp32}
        monkeypatch.setattr(peak, "measure_peak_flops", lambda device, dtype, s=speeds: calls.append(dtype) or s[dtype])
        (tmp_path / "peak_flops.json").unlink(missing_ok=True)
        assert peak.bf16_supported(torch.device("cpu")) is want
        assert peak.bf16_supported(torch.device("cpu")) is want
        assert len(calls) == 2  # once per dtype, then read from the cache
        calls.clear()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert peak.bf16_supported(torch.device("cpu")) is False and not calls  # no instructions: nothing measured
