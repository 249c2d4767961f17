"""The Lightning ``Trainer`` around a :class:`DistillationModule`: loggers, checkpoints, progress, history."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from ..config import TrainConfig
from ..data.samplers import ShardSampler, SortedBatchSampler
from ..errors import DistilleryError
from ..fileio import sidecar, verify_hash, write_with_hash
from ..runtime import is_rank_zero
from .module import DistillationModule


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file, fsynced and renamed: a process killed while saving leaves the
    previous checkpoint intact (Lightning writes in place). Each carries its SHA-256 in ``<name>.sha256``, checked
    before a resume uses it."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_with_hash(target, lambda tmp: torch.save(checkpoint, tmp))

    def remove_checkpoint(self, path) -> None:
        super().remove_checkpoint(path)
        sidecar(path).unlink(missing_ok=True)


def verify_checkpoint(path: str | Path) -> None:
    """Refuse a checkpoint whose bytes differ from those written (its recorded SHA-256)."""
    if verify_hash(path) is False:
        raise DistilleryError(f"checkpoint {path} is corrupt (its content hash differs from the one recorded when "
                              "it was written); it is not used. Delete the run directory to start over")


def _kept_csv_rows(csv_path: Path, done: int) -> list[dict[str, str]]:
    """The rows of ``logs/metrics.csv`` up to epoch ``done``, the checkpoint's, that a resume starts after
    (Lightning's CSV writer deletes the file when it opens it; later rows are logged again by the resumed run)."""
    import csv

    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if v not in ("", None)} for r in rows
            if r.get("epoch") not in ("", None) and int(float(r["epoch"])) <= done]


def fit(module: DistillationModule, train_loader: DataLoader, eval_loaders: list[DataLoader], cfg: TrainConfig,
        run_dir: Path, extra_callbacks: list[Callback] | None = None, ckpt_path: str | None = None,
        extra_loggers: list | None = None, tensorboard: bool = True) -> ModelCheckpoint | None:
    """Train with Lightning; the per-epoch history is ``module.history``. Returns the best-checkpoint callback
    (None without a monitored metric: the last epoch is the result)."""
    monitor, mode = module.monitor
    # the best epoch by the monitored metric (none without a validation split: the last epoch is kept), and the
    # last epoch, written after every epoch (ModelCheckpoint's save_last writes it only when the best improves)
    # (the best holds the weights only: it is reloaded for evaluation, never resumed from, and a third the size)
    best = (ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=monitor, mode=mode,
                            save_top_k=1, enable_version_counter=False, save_weights_only=True)
            if monitor is not None else None)
    last = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                           every_n_epochs=1, enable_version_counter=False)
    callbacks: list[Callback] = [*(extra_callbacks or []), *([best] if best is not None else []), last]
    if cfg.progress:
        callbacks.append(RichProgressBar() if _rich_ok() else TQDMProgressBar())
    kept_rows: list[dict[str, str]] = []
    purge_step = None
    if ckpt_path is not None:
        verify_checkpoint(ckpt_path)
        saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        kept_rows = _kept_csv_rows(run_dir / "logs" / "metrics.csv", int(saved.get("epoch", -1)))
        purge_step = int(saved.get("global_step", 0))
        del saved
    csv_logger = CSVLogger(run_dir / "logs", name="", version="")
    # TensorBoard hides the events a killed segment logged after its checkpoint (they are logged again)
    loggers = [csv_logger, *([TensorBoardLogger(run_dir / "logs", name="tensorboard", version="",
                                                **({"purge_step": purge_step} if purge_step else {}))]
                             if tensorboard else []), *(extra_loggers or [])]
    if kept_rows and is_rank_zero():
        csv_logger.experiment.metrics[:0] = kept_rows  # written back, ahead of the new rows, at the first save
    trainer = L.Trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices,
                        num_nodes=cfg.num_nodes, strategy=cfg.strategy,
                        accumulate_grad_batches=cfg.accumulate_grad_batches,
                        precision=cfg.precision, deterministic=_deterministic(cfg), callbacks=callbacks,
                        logger=loggers, log_every_n_steps=min(cfg.log_every_n_steps, max(1, len(train_loader))),
                        num_sanity_val_steps=0, enable_progress_bar=cfg.progress, enable_model_summary=False,
                        default_root_dir=str(run_dir), plugins=[AtomicCheckpointIO()],
                        use_distributed_sampler=False)  # our samplers split batches and shards per process
    module.train_loader = train_loader
    # the training loader's GlobalBatchSampler slices global batches per process; evaluation is sharded here
    sharded = [DataLoader(d.dataset, batch_sampler=SortedBatchSampler(d.batch_sampler.lengths,
                                                                      d.batch_sampler.batch_size, shard=True),
                          collate_fn=d.collate_fn, num_workers=d.num_workers)
               if isinstance(d.batch_sampler, SortedBatchSampler) else
               DataLoader(d.dataset, batch_size=d.batch_size, sampler=ShardSampler(len(d.dataset)),  # type: ignore
                          collate_fn=d.collate_fn, num_workers=d.num_workers) for d in eval_loaders]
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=sharded, ckpt_path=ckpt_path)
    return best


def _deterministic(cfg: TrainConfig) -> bool:
    if cfg.deterministic != "auto":
        return bool(cfg.deterministic)
    from ..runtime import compute_device

    return compute_device(cfg.accelerator).type != "cpu"


def _rich_ok() -> bool:
    try:
        import rich  # noqa: F401

        return True
    except ImportError:
        return False
