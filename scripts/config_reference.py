"""Write docs/configuration.md from the pydantic schema (distillery.config): every key with its type, default and
description, so the reference cannot drift from the code.

    python scripts/config_reference.py          # rewrites docs/configuration.md
    python scripts/config_reference.py --check  # exit 1 when the file is out of date (used by the tests)
"""
from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from distillery.config import Config

OUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def _models(annotation) -> list[type[BaseModel]]:
    args = typing.get_args(annotation) or (annotation,)
    return [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]


def _type(annotation) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = str(annotation).replace("typing.", "").replace("distillery.config.", "")
    return text.replace("NoneType", "None")


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(section defaults)"
    return "`null`" if value is None else f"`{value}`"


def _rows(model: type[BaseModel], prefix: str, sections: list[tuple[str, type[BaseModel]]]) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _models(field.annotation)
        if nested:
            sections.append((key, nested[0]))
            rows.append(f"| `{key}` | section ({nested[0].__name__}) | {_default(field)} | "
                        f"{(field.description or '').replace('|', '/')} |")
            continue
        desc = (field.description or "").replace("|", "/").replace("\n", " ")
        rows.append(f"| `{key}` | {_type(field.annotation).replace('|', 'or')} | {_default(field)} | {desc} |")
    return rows


def render() -> str:
    lines = ["# Configuration reference", "",
             "Generated from the pydantic schema in `src/distillery/config.py` by `python scripts/config_reference.py`;"
             " do not edit by hand. Every key can be set in the YAML file or with `--set key.path=value`. Unknown "
             "keys, wrong types and missing files are reported with their key path.", ""]
    sections: list[tuple[str, type[BaseModel]]] = [("", Config)]
    seen = set()
    while sections:
        path, model = sections.pop(0)
        if (path, model) in seen:
            continue
        seen.add((path, model))
        title = path or "top level"
        doc = " ".join((model.__doc__ or "").split())
        lines += [f"## {title}", ""] + ([doc, ""] if doc and model is not Config else [])
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        lines += _rows(model, f"{path}." if path else "", sections)
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    text = render()
    if ap.parse_args().check:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
