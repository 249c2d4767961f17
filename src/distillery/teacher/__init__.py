"""The frozen teacher: task-head preparation and outputs (live or cached) behind one interface."""
from .cache import CachedTeacher, CacheSettings, TeacherCache, open_cache
from .head import prepare_head
from .outputs import LiveTeacher, TeacherOutputs, compute_features

__all__ = ["CacheSettings", "CachedTeacher", "LiveTeacher", "TeacherCache", "TeacherOutputs", "compute_features",
           "open_cache", "prepare_head"]
