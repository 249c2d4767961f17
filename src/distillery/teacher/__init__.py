"""The frozen teacher: task-head preparation and outputs (live or precomputed) behind one interface."""
from .head import prepare_head
from .outputs import LiveTeacher, PrecomputedTeacher, TeacherOutputs, compute_features

__all__ = ["LiveTeacher", "PrecomputedTeacher", "TeacherOutputs", "compute_features", "prepare_head"]
