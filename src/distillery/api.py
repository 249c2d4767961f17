"""Python API: ``run(config) -> metrics``, ``resume(run_dir)``, ``evaluate(run_dir)``, ``predict(run_dir, inputs)``,
``load_student(run_dir)``.

One run: read data -> build teacher and student -> give the teacher a task head if needed -> teacher outputs
(cached: computed once per augmented view and replayed; or live) -> train the student with the configured loss terms
-> write the run directory (resolved config, metrics.json, student weights as safetensors, tokenizer, logs). The
skeleton is :mod:`distillery.pipeline`; what differs per task (classification, causal LM, masked LM) is in
:mod:`distillery.tasks`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import Config, build_config
from .pipeline import execute
from .rundir import check_resumable, read_run_config
from .students import evaluate, load_student, predict

__all__ = ["evaluate", "load_student", "predict", "resume", "run"]


def run(config: Config | dict | str | os.PathLike, quiet: bool = False) -> dict[str, Any]:
    """Distil (or train from scratch, per ``distill.method``) one student; returns the metrics dict.

    Farhat & Chen 2024: a randomly initialised student trained with CE + KD + alignment/uniformity on a task, from
    a frozen pre-trained teacher, as an alternative to pre-training the student.
    """
    from .config import load_config

    if isinstance(config, (str, os.PathLike)):
        cfg = load_config(config)
    elif isinstance(config, dict):
        cfg = build_config(config)
    else:
        cfg = config
    return execute(cfg, Path(cfg.output.dir).expanduser(), quiet, fresh=True)


def resume(run_dir: str | os.PathLike, quiet: bool = False) -> dict[str, Any]:
    """Continue an interrupted run from its last checkpoint (model, optimizer, schedule, RNG, shuffling, history,
    compute counters); the teacher's head and cache are reused or their builds resumed. On CPU at a fixed thread
    count the result equals the uninterrupted run's. A run killed before its first checkpoint starts over."""
    d = Path(run_dir).expanduser()
    check_resumable(d)
    return execute(build_config(read_run_config(d), origin=str(d / "config.yaml")), d, quiet, fresh=False)
