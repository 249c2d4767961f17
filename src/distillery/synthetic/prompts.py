"""Default prompt templates per dataset family: the "rudimentary prompts" of Farhat & Chen 2024's
``sample_stable_diff.py`` (../shared/papers.md §1.6). ``{class}`` is replaced by the class name."""
from __future__ import annotations

FAMILIES: dict[str, list[str]] = {
    "cifar": ["a picture of a {class}"],
    "caltech": ["a picture of a {class}"],
    "indoor": ["the inside of a {class}"],
    "dtd": ["{class} texture"],
    "texture": ["{class} texture"],
}
DEFAULT = ["a picture of a {class}"]


def default_prompts(source: str) -> list[str]:
    """The templates for a dataset, matched by family name in its source (path or Hub id); else DEFAULT."""
    s = source.lower()
    return next((t for fam, t in FAMILIES.items() if fam in s), DEFAULT)


def render(template: str, class_name: str) -> str:
    """A prompt: the template with ``{class}`` replaced (underscores in class names become spaces)."""
    return template.replace("{class}", class_name.replace("_", " "))
