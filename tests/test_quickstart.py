"""docs/quickstart.md followed literally: its YAML block, the real MiniLM teacher, a generated CSV, one command."""
import csv
import json
import random
import re
from pathlib import Path

import yaml

from distillery.cli import main

ROOT = Path(__file__).resolve().parents[1]
WORDS = {"card_lost": ["card", "lost", "stolen", "block"], "balance": ["balance", "money", "account", "savings"],
         "travel": ["flight", "airport", "ticket", "seat"]}
FILL = ["please", "i", "my", "the", "how", "can", "you", "today", "what", "is"]


def test_quickstart_on_a_csv_of_ones_own(tmp_path, capsys, monkeypatch):
    block = re.search(r"```yaml\n(.*?)```", (ROOT / "docs" / "quickstart.md").read_text(), re.S).group(1)
    rng = random.Random(0)
    data = tmp_path / "my_data"
    data.mkdir()
    for split, n in (("train", 30), ("test", 10)):
        with open(data / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            for i in range(n * 3):
                label = list(WORDS)[i % 3]
                w.writerow([" ".join(rng.sample(WORDS[label], 2) + rng.sample(FILL, 3)), label])
    cfg = yaml.safe_load(block)
    cfg["train"].update(epochs=2, progress=False)  # the quickstart's file, shortened for the test
    (tmp_path / "my_task.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "my_task.yaml"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"student accuracy \d\.\d+, [\d,]+ params; teacher accuracy", out)
    m = json.loads((tmp_path / "runs" / "my_task" / "metrics.json").read_text())
    assert m["teacher"]["accuracy"] > 0.8  # the real MiniLM separates the three intents
    assert (tmp_path / "runs" / "my_task" / "student.safetensors").exists()
