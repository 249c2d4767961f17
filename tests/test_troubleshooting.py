"""docs/troubleshooting.md covers every case of the bad-input catalogue, and what it quotes is what the code says."""
from __future__ import annotations

import re
from pathlib import Path

from test_bad_inputs import CASES

DOC = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"


def test_every_catalogued_error_is_documented():
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))
    assert set(CASES) - documented == set(), "cases missing from docs/troubleshooting.md"
    assert documented - set(CASES) == set(), "docs/troubleshooting.md names cases the catalogue does not have"


def test_quoted_run_time_messages_exist_in_the_code():
    src = "\n".join(p.read_text() for p in (DOC.parents[1] / "src" / "distillery").rglob("*.py"))
    for quoted in ("holds an unfinished run", "non-finite loss", "has no trained MLM head", "vocabulary mismatch",
                   "could not create the model (pretrained weights need the Hub", "the last good checkpoint is kept",
                   "is in use by another distillery process"):
        assert quoted in src, quoted
