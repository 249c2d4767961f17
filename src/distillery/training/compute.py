"""``ComputeTracker``: a Lightning callback that books the FLOPs and wall time of every training step and ends
training at ``train.budget`` (FLOPs, wall-clock hours or steps), at most one step over it.

Bui et al. 2024 compare distillation and training from scratch at equal wall-clock hours (teacher forward
included); Busbridge et al. 2025 at equal FLOPs. Both count what the run spent before its first step (the teacher's
head and cache, passed in as ``prior_s``; their FLOPs are already in the meter).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from lightning.pytorch.callbacks import Callback

from ..compute.flops import FlopMeter, shape_key
from ..config import BudgetConfig


class ComputeTracker(Callback):
    def __init__(self, meter: FlopMeter, budget: BudgetConfig | None = None, prior_s: float = 0.0,
                 clock: Callable[[], float] = time.perf_counter):
        self.meter, self.budget, self.prior_s, self.clock = meter, budget, prior_s, clock
        self.steps = 0
        self.train_s = 0.0  # training steps and their data loading; evaluation excluded
        self.ended_by = "epochs"
        self._last: float | None = None
        self.fit_s_before = 0.0  # seconds in ``fit`` of the earlier segments of a resumed run (evaluation included)
        self._fit_t0: float | None = None

    # -- what has been spent -------------------------------------------------------------------------------
    @property
    def compute_s(self) -> float:
        return self.prior_s + self.train_s

    @property
    def fit_s(self) -> float:
        """Seconds in ``fit`` so far, over every segment of a resumed run (training and evaluation)."""
        return self.fit_s_before + (self.clock() - self._fit_t0 if self._fit_t0 is not None else 0.0)

    def spent(self) -> float:
        """The fraction of the budget spent (0 without a budget)."""
        b = self.budget
        if b is None:
            return 0.0
        if b.flops is not None:
            return self.meter.total / b.flops
        if b.hours is not None:
            return self.compute_s / (3600 * b.hours)
        assert b.steps is not None
        return self.steps / b.steps

    def progress(self) -> float:
        """Budget progress in [0, 1], for the learning-rate schedule."""
        return min(1.0, self.spent())

    # -- checkpointed with the run, so that a resumed run keeps counting where it stopped ----------------------
    def state_dict(self) -> dict:
        return {"steps": self.steps, "train_s": self.train_s, "fit_s": self.fit_s,
                "by_phase": dict(self.meter.by_phase)}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.train_s = int(state["steps"]), float(state["train_s"])
        self.fit_s_before = float(state.get("fit_s", 0.0))  # absent in checkpoints of older versions
        self.meter.by_phase.clear()
        self.meter.by_phase.update(state["by_phase"])

    # -- Lightning hooks -----------------------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        self._fit_t0 = self.clock()

    def on_train_start(self, trainer, pl_module) -> None:
        self.meter.phase = "teacher_live"  # a live teacher's forward passes inside the steps

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last = self.clock()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        losses = getattr(pl_module, "losses", None)
        state = losses.cost_state() if losses is not None and hasattr(losses, "cost_state") else ()
        self.meter.start("student_train", ("step", shape_key(batch["student"]), shape_key(batch["label"]), state))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.meter.stop()
        now = self.clock()
        if self._last is not None:
            self.train_s += now - self._last
        self._last = now
        self.steps = int(getattr(trainer, "global_step", self.steps + 1))  # optimizer steps (accumulation counted)
        if self.budget is not None and self.spent() >= 1.0:
            trainer.should_stop = True
            self.ended_by = "budget"

    def on_train_end(self, trainer, pl_module) -> None:
        self.meter.phase = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.meter.close_all()
        self.meter.phase = None
