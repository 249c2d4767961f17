"""Experiment trackers people already use, through Lightning's own loggers: MLflow (a local ``sqlite:`` store by
default) and Weights & Biases (offline unless configured). Each run logs its resolved config as parameters, the
per-step and per-epoch figures Lightning logs, and metrics.json's final figures; a resumed run continues its
tracker run."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import DistilleryError
from ..fileio import atomic_write_text

RUN_IDS = "tracker_runs.json"  # in <run dir>/logs: the tracker run of each logger, continued on resume


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}`` (lists and None as text), for tracker parameters."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
    return out


def final_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """metrics.json's numbers (student, teacher, train, compute), flattened, for a tracker's final metrics."""
    picked = {k: metrics.get(k) for k in ("student", "teacher", "train", "compute") if isinstance(metrics.get(k), dict)}
    flat = flatten({k: {n: v for n, v in sec.items() if not isinstance(v, dict)} for k, sec in picked.items()})
    return {f"final.{k}": float(v) for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def default_tracking_uri(run_dir: Path) -> str:
    """A local SQLite store beside the run directory: every run (and every arm of a comparison) in one file."""
    return f"sqlite:///{(run_dir.parent / 'mlflow.db').resolve()}"


def tracker_loggers(cfg: Config, run_dir: Path) -> list[Any]:
    """The Lightning loggers of ``output.loggers`` beyond csv and tensorboard (which the engine always writes)."""
    out = cfg.output
    ids_path = run_dir / "logs" / RUN_IDS
    ids = json.loads(ids_path.read_text()) if ids_path.is_file() else {}
    loggers: list[Any] = []
    name = out.run_name or run_dir.name
    if "mlflow" in out.loggers:
        from lightning.pytorch.loggers import MLFlowLogger

        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise DistilleryError("output.loggers: mlflow needs the mlflow package (pip install mlflow)") from None
        uri = out.tracking_uri or default_tracking_uri(run_dir)
        loggers.append(MLFlowLogger(experiment_name=out.experiment, run_name=name, tracking_uri=uri,
                                    run_id=ids.get("mlflow")))
    if "wandb" in out.loggers:
        try:
            import wandb  # noqa: F401
            from lightning.pytorch.loggers import WandbLogger
        except ImportError:
            raise DistilleryError("output.loggers: wandb needs the wandb package (pip install wandb); it is "
                                  "optional") from None
        loggers.append(WandbLogger(project=out.experiment, name=name, save_dir=str(run_dir / "logs"),
                                   offline=out.wandb_mode != "online", id=ids.get("wandb"), resume="allow"))
    return loggers


def start(loggers: list[Any], cfg: Config, run_dir: Path) -> None:
    """Log the resolved config as parameters (once per tracker run) and remember each tracker run for a resume."""
    ids: dict[str, str] = {}
    for lg in loggers:
        kind = "mlflow" if type(lg).__name__ == "MLFlowLogger" else "wandb"
        run_id = getattr(lg, "run_id", None) if kind == "mlflow" else getattr(getattr(lg, "experiment", None), "id",
                                                                             None)
        if run_id:
            ids[kind] = str(run_id)
        lg.log_hyperparams(flatten(cfg.to_dict()))
    if ids:
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "logs" / RUN_IDS, json.dumps(ids))


def finish(loggers: list[Any], metrics: dict[str, Any]) -> None:
    """metrics.json's final figures into every tracker, then close their runs."""
    figures = final_figures(metrics)
    for lg in loggers:
        lg.log_metrics(figures)
        lg.finalize("success")
