"""Tasks as plugins: what differs between classification, causal LM and masked LM is a :class:`Task` that the one
run skeleton (:mod:`distillery.pipeline`) asks for its data and networks, its teacher's outputs, its loss-term
context and checks, and how its student is evaluated and saved. A new task is one module and one
:func:`register_task`; the skeleton has no branch on task names."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..compute.peak import bf16_supported
from ..config import Config
from ..data.sources import sniff_modality
from ..losses import LossSet, TermContext
from ..runtime import compute_device


@dataclass
class Prepared:
    """What a task prepared for one run: its networks (the teacher frozen and on the training device), loaders and
    the loss terms (``term_spec``: ``{name: (weight, params)}``), plus anything the task keeps for itself."""

    student: nn.Module
    teacher: nn.Module | None
    train_loader: Any
    eval_loaders: list[Any]
    eval_names: list[str]
    term_spec: dict[str, tuple[float, dict[str, Any]]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TeacherPart:
    """The teacher's outputs for training (live or cached), its report for metrics.json, and the seconds spent
    preparing it (charged to a time budget)."""

    outputs: Any
    report: dict[str, Any] | None
    prior_s: float = 0.0
    detach: Callable[[], None] | None = None  # stops counting the teacher's forward FLOPs


@dataclass
class RunState:
    """What the skeleton knows when a task evaluates and saves its student."""

    cfg: Config
    run_dir: Path
    module: Any  # the trained DistillationModule
    tracker: Any  # its ComputeTracker
    meter: Any
    bf16: bool
    quiet: bool
    t_start: float
    train_time_s: float
    ckpt_path: str | None
    teacher: TeacherPart | None
    term_spec: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    best_path: str | None = None  # the checkpoint the student was reloaded from (None: the last epoch)
    done_line: str = ""  # what the task's final log line says about the student

    def train_section(self) -> dict[str, Any]:
        """``metrics.json["train"]``'s keys common to every task."""
        import time

        tc = self.cfg.train
        return {"method": self.cfg.distill.method, "terms": {n: w for n, (w, _) in self.term_spec.items()},
                "epochs": tc.epochs, "steps": self.module.global_step,
                "train_time_s": round(self.train_time_s + self.tracker.fit_s_before, 2),  # every resumed segment
                "wall_time_s": round(time.perf_counter() - self.t_start, 2), "seed": tc.seed,
                "precision": tc.precision}

    def effective_batch_size(self) -> int:
        tc = self.cfg.train
        return tc.batch_size * tc.accumulate_grad_batches * self.module.trainer.world_size


def resolve_precision(cfg: Config) -> str:
    """``train.precision``, with ``auto`` resolved: ``bf16-mixed`` where the device has fast bf16 (AMX / AVX-512
    BF16 CPUs, bf16 GPUs) and the task is classification (images or text), else ``32-true`` (language-model
    pre-training keeps fp32 unless set). Measured on this project's CPU (docs/benchmarks.md, precision and end to
    end): the CIFAR ResNet and the text CNN train faster under bf16 at the same accuracy."""
    p = str(cfg.train.precision)
    if p != "auto":
        return p
    task = cfg.data.task if cfg.data.task != "auto" else sniff_modality(cfg.data.source)
    return "bf16-mixed" if task in ("image", "text") and bf16_supported(compute_device(cfg.train.accelerator)) \
        else "32-true"


def teacher_bf16(cfg: Config) -> bool:
    """Whether the frozen teacher runs under bf16 autocast (``teacher.precision``; ``auto``: where the device has
    fast bf16, or when the student trains under bf16)."""
    if cfg.teacher is None:
        return False
    if cfg.teacher.precision != "auto":
        return cfg.teacher.precision == "bf16"
    return "bf16" in str(cfg.train.precision) or bf16_supported(compute_device(cfg.train.accelerator))


class Task:
    """One kind of run. Subclasses implement every method; the skeleton calls them in this order."""

    name: str = ""
    monitor_min: bool = False  # the validation metric that selects the best epoch is minimised (cross-entropy)

    def prepare(self, cfg: Config, term_spec: dict, needs_teacher: bool, bf16: bool, quiet: bool) -> Prepared:
        """Read the data, build the student (and the frozen teacher), make the loaders."""
        raise NotImplementedError

    def teacher_outputs(self, cfg: Config, prep: Prepared, meter, bf16: bool, quiet: bool) -> TeacherPart:
        """Give the teacher a head if it needs one, and its outputs (cached or live); FLOPs into ``meter``.
        ``bf16``: the teacher's precision (:func:`teacher_bf16`), not the student's."""
        raise NotImplementedError

    def term_context(self, cfg: Config, prep: Prepared) -> TermContext:
        """What the loss terms need to build their trainable parts."""
        raise NotImplementedError

    def check_terms(self, cfg: Config, prep: Prepared, loss_set: LossSet, quiet: bool) -> None:
        """Fail before training when a term needs what the networks do not give; request optional Features."""
        raise NotImplementedError

    def configure(self, cfg: Config, prep: Prepared, module, quiet: bool) -> None:
        """Task settings of the training module (the selecting metric, batch augmentation, gathering)."""

    def finish(self, prep: Prepared, state: RunState) -> dict[str, Any]:
        """Evaluate the trained student, save it into the run directory, and return metrics.json's content."""
        raise NotImplementedError


_TASKS: dict[str, Callable[[], Task]] = {}


def register_task(*names: str) -> Callable[[type[Task]], type[Task]]:
    """Register a task class for the ``data.task`` values ``names``."""

    def deco(cls: type[Task]) -> type[Task]:
        for n in names:
            _TASKS[n] = cls
        return cls

    return deco


def task_for(cfg: Config) -> Task:
    """The task of ``cfg.data.task`` (auto, text and image are classification)."""
    from . import classification, language  # noqa: F401  (importing registers the tasks)

    return _TASKS[cfg.data.task]()
