"""Task data: reading sources into splits, few-shot subsets, augmentation, batching."""
from .sources import Split, TaskData, load_task_data

__all__ = ["Split", "TaskData", "load_task_data"]
