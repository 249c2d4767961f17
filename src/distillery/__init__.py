"""distillery: train small models without pre-training them.

Distil a frozen pre-trained teacher into a randomly initialised student on the user's task (Farhat & Chen 2024):

    import distillery
    metrics = distillery.run("configs/banking77_minilm_to_textcnn.yaml")
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["DistilleryError", "Features", "create_model", "evaluate", "load_config", "predict", "run"]

if TYPE_CHECKING:
    from .api import evaluate, predict, run
    from .config import load_config
    from .errors import DistilleryError
    from .features import Features
    from .models import create_model

_LAZY = {"run": "api", "evaluate": "api", "predict": "api", "load_config": "config", "DistilleryError": "errors",
         "Features": "features", "create_model": "models"}


def __getattr__(name: str) -> Any:  # lazy, so that `import distillery` stays fast
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
