"""``DistillationModule``: the student and the trainable parts of the loss terms (projectors, connectors).

The teacher is *not* a sub-module: it never receives gradients, is never wrapped by a distributed strategy and is
never saved in a checkpoint. Its outputs come from a :class:`~distillery.teacher.TeacherOutputs`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import torch

from ..config import TrainConfig
from ..data.diffaugment import batch_generator, diff_augment
from ..errors import NumericalFault
from ..losses import LossSet
from ..models.base import Network
from ..runtime import world_size
from ..teacher.outputs import TeacherOutputs
from .distributed import all_reduce_sum, gather_batch


def per_token(s, t, batch):
    """Sequence outputs ``[B, L, V]`` (already aligned: position i predicts label i) as ``[B*L, V]`` rows, labels
    ``[B, L]`` as ``[B*L]``, so the classification loss terms (CE, KD, reverse KL, JSD) apply per token."""
    from ..features import Features

    def rows(f):
        return None if f is None else Features(logits=f.logits.flatten(0, 1))

    return rows(s), rows(t), {**batch, "label": batch["label"].flatten()}


class DistillationModule(L.LightningModule):
    def __init__(self, student: Network, losses: LossSet, teacher: TeacherOutputs | None, train_cfg: TrainConfig,
                 steps_per_epoch: int, eval_names: list[str]):
        super().__init__()
        self.student = student
        self.losses = losses
        object.__setattr__(self, "_teacher", teacher)  # not registered: no params, no checkpoint, no DDP
        self.cfg = train_cfg
        self.steps_per_epoch = steps_per_epoch
        self.eval_names = eval_names
        self._correct: dict[str, list[int]] = {}
        self._train_sums: dict[str, float] = {}
        self._train_count = 0
        self.history: list[dict[str, float]] = []
        self._t0 = time.perf_counter()
        self._epoch_s0 = 0.0  # the tracker's training seconds when this epoch began
        self.tracker = None  # a ComputeTracker: FLOPs in the history, budget progress for the schedule
        self.train_loader = None  # its shuffling generator is saved in checkpoints, so a resumed run replays it
        self.diffaugment = None  # a DiffAugmentConfig: batch augmentation shared by teacher and student
        self.gather = False  # multi-process: compute the loss on the global batch (features of all processes)
        # what selects the best checkpoint (language models: val/ce, min); only the validation split may select:
        # without one the last epoch is the result (the test split never chooses what it then scores)
        self.monitor: tuple[str | None, str] = ("val/acc" if "val" in eval_names else None, "max")
        self._ce: dict[str, float] = {}

    @property
    def teacher(self) -> TeacherOutputs | None:
        return self._teacher

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        if device.type == "cpu":  # the loaders build batches on the CPU: nothing to move (Lightning would walk it)
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_fit_start(self) -> None:
        if self._teacher is not None:
            self._teacher.to(self.device)

    # -- resume: what a checkpoint must hold beyond weights, optimizer and loop state for a resumed run to replay
    # the uninterrupted one (the global RNG for dropout, the training loader's shuffling generator, the history)
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        gen = getattr(self.train_loader, "generator", None)
        checkpoint["distillery"] = {"history": self.history, "rng": torch.get_rng_state(),
                                    "sampler": gen.get_state() if gen is not None else None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("distillery")
        if not state:
            return
        self.history = list(state["history"])
        torch.set_rng_state(state["rng"])
        gen = getattr(self.train_loader, "generator", None)
        if gen is not None and state.get("sampler") is not None:
            gen.set_state(state["sampler"])

    def on_train_epoch_start(self) -> None:
        self._train_sums, self._train_count = {}, 0
        self._epoch_s0 = self.tracker.train_s if self.tracker is not None else 0.0
        ds = self.trainer.train_dataloader.dataset if self.trainer.train_dataloader is not None else None
        if ds is not None and hasattr(ds, "set_epoch"):
            ds.set_epoch(self.current_epoch)

    def training_step(self, batch, batch_idx):
        if self.diffaugment is not None:
            gen = batch_generator(self.cfg.seed, self.current_epoch, batch_idx)
            x = diff_augment(batch["student"]["pixel_values"], self.diffaugment.ops, self.diffaugment.mode, gen)
            batch = {**batch, "student": {"pixel_values": x}, "teacher": {"pixel_values": x}}  # one view for both
        s = self.student(batch["student"])
        t = self._teacher.outputs(batch) if (self._teacher is not None and self.losses.needs_teacher) else None
        if s.logits is not None and s.logits.dim() == 3:  # a language model: every next-token prediction is a row
            s, t, batch = per_token(s, t, batch)
        if self.gather and world_size() > 1:
            s, t, batch = gather_batch(s, t, batch)
        parts = self.losses(s, t, batch)
        loss = torch.stack(list(parts.values())).sum()
        if not torch.isfinite(loss.detach()):
            bad = ", ".join(f"{n} = {float(v)}" for n, v in parts.items() if not torch.isfinite(v.detach()))
            params = self._non_finite_parameters()  # a non-finite gradient at the step before shows here
            where = f"; non-finite parameter in {self._names(params)} (a non-finite gradient)" if params else ""
            self._fault(f"non-finite loss ({bad}{where})")
        bs = batch["label"].shape[0]
        # the epoch means come from these sums (logged at the epoch's end); Lightning is handed the step loss only
        # on the steps its loggers write (each self.log call costs about as much as a small layer)
        for name, v in (("loss", loss), *parts.items()):
            self._train_sums[name] = self._train_sums.get(name, 0.0) + float(v.detach()) * bs
        self._train_count += bs
        connector = getattr(self.trainer, "_logger_connector", None)
        if connector is None or connector.should_update_logs:
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, prog_bar=True, batch_size=bs)
        return loss

    def on_train_epoch_end(self) -> None:
        if not self._train_count:
            return
        for name, v in self._train_sums.items():  # the names Lightning's on_epoch logging used to write
            self.log("train/loss_epoch" if name == "loss" else f"train/{name}", v / self._train_count)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        # the parameters are checked once per epoch, after its last step (before validation and the checkpoints):
        # a non-finite gradient makes the stepped parameters non-finite, so the next step's loss check finds it
        # within the epoch; a check of every gradient at every step read all of them (1.3 ms a step for a 4 M-
        # parameter text CNN on 2 cores, 3 % of its epoch) to find the same fault one step earlier
        trainer = self._trainer
        last = getattr(trainer, "num_training_batches", None) if trainer is not None else None
        if last is not None and (batch_idx + 1 >= last or trainer.should_stop):
            self.check_parameters()

    def check_parameters(self) -> None:
        """Stop the run (:meth:`_fault`) if a trainable parameter holds a NaN/Inf, naming it."""
        bad = self._non_finite_parameters()
        if bad:
            self._fault(f"non-finite parameter in {self._names(bad)} (a non-finite gradient at or before this step)")

    def _non_finite_parameters(self) -> list[str]:
        named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        if not named:
            return []
        finite = torch.isfinite(torch.stack(torch._foreach_norm([p.detach() for _, p in named])))
        if bool(finite.all()):
            return []
        return [n for (n, _), ok in zip(named, finite.tolist(), strict=True) if not ok]

    @staticmethod
    def _names(names: list[str]) -> str:
        return f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"

    def _fault(self, what: str) -> None:
        """Stop the run: a NaN/Inf must never be trained on silently. The last epoch's checkpoint stays."""
        ckpt = getattr(self.trainer.checkpoint_callback, "dirpath", None) if self._trainer is not None else None
        last = Path(ckpt) / "last.ckpt" if ckpt else None
        keep = (f"the last good checkpoint is kept: {last}" if last is not None and last.exists()
                else "no checkpoint had been saved yet")
        raise NumericalFault(f"{what} at step {self.global_step} (epoch {self.current_epoch + 1}); training "
                             f"stopped, {keep}. Lower train.lr, or check the data for extreme values")

    def on_validation_epoch_start(self) -> None:
        self._correct = {n: [0, 0] for n in self.eval_names}
        self._ce = {n: 0.0 for n in self.eval_names}

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        name = self.eval_names[dataloader_idx]
        logits = self.student(batch["student"]).logits
        labels = batch["label"]
        if logits.dim() == 3:  # next-token accuracy and cross-entropy
            logits, labels = logits.flatten(0, 1), labels.flatten()
        c = self._correct[name]
        c[0] += int((logits.argmax(-1) == labels).sum())
        c[1] += int(labels.numel())
        self._ce[name] += float(torch.nn.functional.cross_entropy(logits.float(), labels, reduction="sum"))

    def on_validation_epoch_end(self) -> None:
        # every process evaluated its shard and trained on its slice of the global batches: sum over processes
        names = sorted(self._correct)
        flat = all_reduce_sum([float(v) for n in names for v in (*self._correct[n], self._ce[n])], self.device)
        self._correct = {n: [int(flat[3 * i]), int(flat[3 * i + 1])] for i, n in enumerate(names)}
        self._ce = {n: flat[3 * i + 2] for i, n in enumerate(names)}
        # per-sample mean training losses: sums and counts over processes (with the gathered global batch every
        # process holds the same sums and counts, and the ratio is unchanged)
        keys = sorted(self._train_sums)
        flat = all_reduce_sum([self._train_sums[k] for k in keys] + [float(self._train_count)], self.device)
        self._train_sums, self._train_count = {k: flat[i] for i, k in enumerate(keys)}, int(flat[-1])
        row: dict[str, float] = {"epoch": self.current_epoch + 1, "step": self.global_step,
                                 "elapsed_s": round(time.perf_counter() - self._t0, 3)}
        for name, (correct, total) in self._correct.items():
            if total:
                self.log(f"{name}/acc", correct / total, prog_bar=(name == self.eval_names[0]), sync_dist=True,
                         add_dataloader_idx=False)
                row[f"{name}/acc"] = round(correct / total, 6)
                row[f"{name}/ce"] = round(self._ce[name] / total, 6)
                if self.monitor[0] == f"{name}/ce":
                    self.log(f"{name}/ce", self._ce[name] / total, sync_dist=True, add_dataloader_idx=False)
        # the history is kept here, from the module's own sums: Lightning calls callbacks' epoch-end hooks before
        # the module's, so a callback reading callback_metrics would see the previous epoch's values
        if not self.trainer.sanity_checking and self._train_count:
            row.update({f"train/{k}": round(v / self._train_count, 6) for k, v in self._train_sums.items()})
            if self.tracker is not None:  # cumulative compute so far, for accuracy-vs-FLOPs curves
                # training steps with their data loading, evaluation excluded (the tracker's clock)
                row["train_epoch_s"] = round(self.tracker.train_s - self._epoch_s0, 3)
                row["flops"] = self.tracker.meter.total
                row["compute_s"] = round(self.tracker.compute_s, 3)
            self.history.append(row)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        # the fused kernels (one pass over all parameters) where every parameter is a float tensor of this device:
        # for a 4 M-parameter text CNN on 2 CPU cores the AdamW step drops from about 18 ms to 3 ms
        fused = {"fused": True} if params and all(p.is_floating_point() and p.device == params[0].device
                                                  and p.device.type in ("cpu", "cuda") for p in params) else {}
        if self.cfg.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=self.cfg.lr, momentum=self.cfg.momentum,
                                  weight_decay=self.cfg.weight_decay, nesterov=True, **fused)
        else:
            opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, **fused)
        if self.cfg.scheduler == "none":
            return opt
        total = max(1, self.cfg.epochs * self.steps_per_epoch)
        if self._trainer is not None:  # optimizer steps, with gradient accumulation, devices and nodes counted
            total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = int(self.cfg.warmup_epochs * total / self.cfg.epochs)
        budgeted = self.tracker is not None and self.tracker.budget is not None

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            # cosine over the epochs, or over the budget's progress (FLOPs, hours or steps spent)
            progress = self.tracker.progress() if budgeted else (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
