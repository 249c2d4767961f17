"""Deployable students: a finished run's student exported to ONNX (parity-checked, optionally int8), in one
self-describing folder that ``distillery predict`` and ``distillery eval`` run with ONNX Runtime. Running an export
(:mod:`.runner`) imports no torch; the names are loaded lazily so that importing this package does not either."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["OnnxStudent", "export_run", "is_export"]

if TYPE_CHECKING:
    from .onnx import export_run
    from .runner import OnnxStudent, is_export

_LAZY = {"export_run": "onnx", "OnnxStudent": "runner", "is_export": "runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
