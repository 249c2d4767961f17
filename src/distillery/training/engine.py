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
from ..fileio import atomic_write
from .distributed import ShardSampler
from .module import DistillationModule


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file, fsynced and renamed: a process killed while saving leaves the
    previous checkpoint intact (Lightning writes in place)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp: torch.save(checkpoint, tmp))


def fit(module: DistillationModule, train_loader: DataLoader, eval_loaders: list[DataLoader], cfg: TrainConfig,
        run_dir: Path, extra_callbacks: list[Callback] | None = None, ckpt_path: str | None = None) -> ModelCheckpoint:
    """Train with Lightning; the per-epoch history is ``module.history``; returns the checkpoint callback."""
    monitor, mode = module.monitor
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=monitor, mode=mode,
                           save_last=True, save_top_k=1, enable_version_counter=False)
    callbacks: list[Callback] = [*(extra_callbacks or []), ckpt]
    if cfg.progress:
        callbacks.append(RichProgressBar() if _rich_ok() else TQDMProgressBar())
    loggers = [CSVLogger(run_dir / "logs", name="", version=""),
               TensorBoardLogger(run_dir / "logs", name="tensorboard", version="")]
    trainer = L.Trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices,
                        num_nodes=cfg.num_nodes, strategy=cfg.strategy,
                        accumulate_grad_batches=cfg.accumulate_grad_batches,
                        precision=cfg.precision, deterministic=cfg.deterministic, callbacks=callbacks,
                        logger=loggers, log_every_n_steps=min(cfg.log_every_n_steps, max(1, len(train_loader))),
                        num_sanity_val_steps=0, enable_progress_bar=cfg.progress, enable_model_summary=False,
                        default_root_dir=str(run_dir), plugins=[AtomicCheckpointIO()],
                        use_distributed_sampler=False)  # our samplers split batches and shards per process
    module.train_loader = train_loader
    # the training loader's GlobalBatchSampler slices global batches per process; evaluation is sharded here
    sharded = [DataLoader(d.dataset, batch_size=d.batch_size, sampler=ShardSampler(len(d.dataset)),  # type: ignore
                          collate_fn=d.collate_fn, num_workers=d.num_workers) for d in eval_loaders]
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=sharded, ckpt_path=ckpt_path)
    return ckpt


def _rich_ok() -> bool:
    try:
        import rich  # noqa: F401

        return True
    except ImportError:
        return False
