"""Two CPU processes (DDP over gloo, launched by Lightning) against one process with the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distillery.data.samplers import GlobalBatchSampler


def _cli(cfg: dict, path, launcher: list[str] | None = None) -> dict:
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, *(launcher or []), "-m", "distillery.cli", "run", str(path), "--quiet"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((path.parent / cfg["output"]["dir"] / "metrics.json").read_text())


@pytest.mark.parametrize("method", ["kd", "au"])  # per-sample terms; au's uniformity needs the gathered batch
def test_two_processes_match_one_with_the_same_global_batch(make_text_config, tmp_path, method):
    base = make_text_config("one", distill__method=method)
    base["student"]["kwargs"]["dropout"] = 0.0  # dropout masks are drawn per process
    base["train"].update(epochs=3, batch_size=16, num_threads=1, precision="32-true",
                         test_every_epoch=True)  # bf16 rounds per batch size
    one = _cli(base, tmp_path / "one.yaml")
    two_cfg = json.loads(json.dumps(base))
    two_cfg["output"]["dir"] = str(tmp_path / "two")
    two_cfg["train"].update(batch_size=8, devices=2, strategy="ddp")
    two = _cli(two_cfg, tmp_path / "two.yaml")

    assert two["train"]["effective_batch_size"] == one["train"]["effective_batch_size"] == 16
    assert two["train"]["steps"] == one["train"]["steps"]
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["train/loss"] == pytest.approx(a["train/loss"], rel=1e-3)
        assert b["test/acc"] == pytest.approx(a["test/acc"], abs=1 / 48 + 1e-9)  # at most one test example apart
    assert two["student"]["accuracy"] == pytest.approx(one["student"]["accuracy"], abs=1 / 48 + 1e-9)
    assert not (tmp_path / "two" / ".lock").exists() and (tmp_path / "two" / "student.safetensors").exists()
    if method == "kd":  # the same 2-process run started by torchrun (all ranks run the command from the start)
        two_cfg["output"]["dir"] = str(tmp_path / "torchrun")
        two_cfg["teacher"]["cache_dir"] = str(tmp_path / "fresh_cache")  # so both ranks build the teacher cache
        tr = _cli(two_cfg, tmp_path / "torchrun.yaml",
                  ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"])
        assert [h["train/loss"] for h in tr["history"]] == pytest.approx([h["train/loss"] for h in two["history"]],
                                                                         rel=1e-6)
        assert tr["teacher"]["cache"]["status"] == "built in 2 shards"
        a, b = Path(one["teacher"]["cache"]["path"]), Path(tr["teacher"]["cache"]["path"])
        ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
        assert ma["done"] == mb["done"] and ma["arrays"] == mb["arrays"]
        for spec in ma["arrays"].values():  # the 2-rank cache equals the 1-process cache byte for byte
            assert (a / spec["file"]).read_bytes() == (b / spec["file"]).read_bytes()


def test_global_batch_sampler_slices_the_one_process_batches(monkeypatch):
    import torch

    from distillery.data import samplers as d

    def batches(world, rank, bs):
        monkeypatch.setattr(d, "world_size", lambda: world)
        monkeypatch.setattr(d, "rank", lambda: rank)
        return list(GlobalBatchSampler(21, bs, torch.Generator().manual_seed(3)))

    one = batches(1, 0, 6)
    assert one[0] == torch.randperm(21, generator=torch.Generator().manual_seed(3)).tolist()[:6]
    r0, r1 = batches(2, 0, 3), batches(2, 1, 3)
    assert len(r0) == len(r1) == len(one) == 4
    assert [a + b for a, b in zip(r0, r1, strict=True)] == one  # rank slices rebuild the global batches
    assert r0[-1] == one[-1][:2] and r1[-1] == one[-1][2:]  # the short last batch split as evenly as possible
