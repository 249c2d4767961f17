"""docs/configuration.md is generated from the schema and must match it (regenerate: scripts/config_reference.py)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, "docs/configuration.md is stale: run python scripts/config_reference.py"


def test_every_section_and_key_is_listed():
    from distillery.config import Config, SynthConfig, TrainConfig

    text = (ROOT / "docs" / "configuration.md").read_text()
    for section in Config.model_fields:
        assert f"| `{section}` |" in text
    for key in TrainConfig.model_fields:
        assert f"| `train.{key}` |" in text
    for key in SynthConfig.model_fields:
        assert f"| `synth.{key}` |" in text
    assert "| `train.budget.flops` |" in text and "| `data.synthetic.ratio` |" in text
