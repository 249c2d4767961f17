"""Deployable students: a finished run's student exported to ONNX (parity-checked, optionally int8), in one
self-describing folder that ``distillery predict`` and ``distillery eval`` run with ONNX Runtime."""
from .onnx import export_run
from .runner import OnnxStudent, is_export

__all__ = ["OnnxStudent", "export_run", "is_export"]
