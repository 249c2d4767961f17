"""The one run skeleton for every task: prepare (data, networks) -> teacher outputs (cached or live) -> loss set
-> engine -> evaluate -> save. What differs between tasks is the :class:`~distillery.tasks.base.Task` object
(:func:`~distillery.tasks.base.task_for`); nothing here branches on the task."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .compute import FlopMeter
from .config import Config
from .errors import DistilleryError
from .losses import build_loss_set, resolve_terms, term_needs_teacher
from .models import count_params
from .rundir import claimed, last_checkpoint, write_config, write_metrics
from .runtime import is_rank_zero, log
from .tasks.base import RunState, resolve_precision, task_for, teacher_bf16


def execute(cfg: Config, run_dir: Path, quiet: bool, fresh: bool) -> dict[str, Any]:
    """Run (``fresh``) or resume the run of ``cfg`` in ``run_dir``; returns its metrics."""
    t_start = time.perf_counter()
    tc = cfg.train
    tc.precision = resolve_precision(cfg)  # "auto" becomes what it means here (the saved config says which)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    import lightning as L

    L.seed_everything(tc.seed, workers=True, verbose=False)
    term_spec = resolve_terms(cfg.distill.method, cfg.distill.terms)
    needs_teacher = any(w != 0 and term_needs_teacher(n) for n, (w, _) in term_spec.items())
    if needs_teacher and cfg.teacher is None:
        raise DistilleryError(f"distill.method {cfg.distill.method!r} needs a teacher: add a teacher section")
    if not is_rank_zero():
        # another process of a distributed run (torchrun, SLURM, or Lightning's launcher re-running this command):
        # rank 0 owns the run directory; this process prepares the same inputs, trains its part, writes nothing
        return _train(cfg, run_dir, term_spec, needs_teacher, True, t_start,
                      None if fresh else last_checkpoint(run_dir), writes=False)
    with claimed(run_dir, fresh, quiet) as checkpoint:
        return _train(cfg, run_dir, term_spec, needs_teacher, quiet, t_start, checkpoint())


def _train(cfg: Config, run_dir: Path, term_spec: dict, needs_teacher: bool, quiet: bool, t_start: float,
           ckpt_path: str | None, writes: bool = True) -> dict[str, Any]:
    from .training import DistillationModule, fit, trackers
    from .training.compute import ComputeTracker

    tc = cfg.train
    bf16 = "bf16" in str(tc.precision)
    task = task_for(cfg)
    if writes:
        write_config(run_dir, cfg)  # for --resume
    prep = task.prepare(cfg, term_spec, needs_teacher, bf16, quiet)
    meter = FlopMeter()
    # preparing the teacher (head training, cache build) must not move the run's random stream: the student's
    # projectors, dropout and everything after are then the same whether the head or cache were built or reused
    rng_state = torch.get_rng_state()
    teacher = task.teacher_outputs(cfg, prep, meter, teacher_bf16(cfg), quiet) if prep.teacher is not None else None
    torch.set_rng_state(rng_state)
    loss_set = build_loss_set(prep.term_spec, task.term_context(cfg, prep))
    task.check_terms(cfg, prep, loss_set, quiet)

    module = DistillationModule(prep.student, loss_set, teacher.outputs if teacher is not None else None, tc,
                                len(prep.train_loader), prep.eval_names)
    tracker = ComputeTracker(meter, tc.budget, teacher.prior_s if teacher is not None else 0.0)
    module.tracker = tracker
    task.configure(cfg, prep, module, quiet)
    log(f"training student {cfg.student.model} ({count_params(prep.student):,} params) with "
        f"{' + '.join(f'{w:g}*{n}' for n, (w, _) in prep.term_spec.items())} for "
        + (f"up to {tc.epochs} epochs within the budget {tc.budget.describe()}" if tc.budget else
           f"{tc.epochs} epochs"), quiet)
    tracking = trackers.tracker_loggers(cfg, run_dir) if writes else []  # mlflow, wandb (output.loggers)
    trackers.start(tracking, cfg, run_dir)
    t_train = time.perf_counter()
    try:
        best = fit(module, prep.train_loader, prep.eval_loaders, tc, run_dir, extra_callbacks=[tracker],
                   ckpt_path=ckpt_path, extra_loggers=tracking, tensorboard="tensorboard" in cfg.output.loggers)
    finally:
        meter.close_all()
        if teacher is not None and teacher.detach is not None:
            teacher.detach()
    train_time = time.perf_counter() - t_train
    if not writes:  # not rank 0: its part of training is done; rank 0 evaluates and writes
        return {"history": module.history}
    best_path = best.best_model_path if best is not None else None
    if best_path:  # the epoch the validation split selected (without one: the last epoch)
        module.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"])
    state = RunState(cfg, run_dir, module, tracker, meter, bf16, quiet, t_start, train_time, ckpt_path, teacher,
                     prep.term_spec, best_path or None)
    metrics = task.finish(prep, state)
    write_metrics(run_dir, metrics)
    trackers.finish(tracking, metrics)
    log(f"{state.done_line}; run written to {run_dir}", quiet)
    return metrics
