"""What a cached teacher has left to teach on the student's training views (issue 27 item 4).

KD transfers what the teacher's outputs on the *training* inputs say beyond the label (Hinton et al. 2015: the
relative probabilities of the wrong classes). A teacher that was trained on the same images (the akamaster CIFAR
ResNets saw every CIFAR-10 training image for 200 epochs) is close to one-hot on them, so there is little of that
left. For each finished distillery run this reads the teacher-output cache the run trained from (the logits of
every cached augmented view, the very inputs the student saw) and the run's training labels, and reports per
temperature: the teacher's accuracy on those views, its mean probability of the label, the mean probability mass
it puts on the wrong classes (the "dark knowledge" KD can transfer) and the mean entropy of its softened outputs.

    python benchmarks/teacher_soft_labels.py runs/cifar_recipe/e25/kd/kd_s0 runs/cifar_recipe/e25/kd_ens4/kd_s1
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "teacher_soft_labels.json"


def cached_logits(cache_dir: Path) -> torch.Tensor:
    """The cache's logits, [views, samples, classes], as float32 (read as the cache stores them)."""
    from distillery.teacher.cache import read_stored

    return read_stored(cache_dir, "logits").float()


def soft_label_stats(logits: torch.Tensor, labels: torch.Tensor, temperatures: tuple[float, ...]) -> dict:
    """Per temperature: the label's mean probability, the wrong classes' mean total mass and the mean entropy
    (nats; ``log C`` is uniform) of ``softmax(logits / T)`` over every view and sample; and the teacher's accuracy."""
    y = labels.long().expand(logits.shape[0], -1)
    out: dict = {"accuracy": float((logits.argmax(-1) == y).float().mean()), "views": logits.shape[0],
                 "samples": logits.shape[1], "classes": logits.shape[-1],
                 "uniform_entropy": math.log(logits.shape[-1])}
    for t in temperatures:
        logp = torch.log_softmax(logits / t, dim=-1)
        p_label = logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).exp()
        out[f"T={t:g}"] = {"label_prob": float(p_label.mean()), "wrong_mass": float((1 - p_label).mean()),
                           "entropy": float(-(logp.exp() * logp).sum(-1).mean())}
    return out


def run_stats(run_dir: Path, temperatures: tuple[float, ...]) -> dict:
    """The stats of the teacher cache a finished run trained from, against that run's training labels."""
    from distillery.config import load_config
    from distillery.data import load_task_data

    metrics = json.loads((run_dir / "metrics.json").read_text())
    cache = Path(metrics["teacher"]["cache"]["path"])
    cfg = load_config(str(run_dir / "config.yaml"))
    labels = torch.as_tensor(np.asarray(load_task_data(cfg.data, seed=cfg.train.seed).train.labels))
    logits = cached_logits(cache)
    if logits.shape[1] != len(labels):
        raise SystemExit(f"{cache}: {logits.shape[1]} cached samples but {len(labels)} training labels")
    return {"run": str(run_dir), "teacher": cfg.teacher.model, "teacher_test_accuracy": metrics["teacher"]["accuracy"],
            "student_test_accuracy": metrics["student"]["accuracy"], **soft_label_stats(logits, labels, temperatures)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished distillery run directories (with a teacher cache)")
    ap.add_argument("--temperatures", nargs="+", type=float, default=[1.0, 4.0, 8.0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    res = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for r in args.runs:
        s = run_stats(r, tuple(args.temperatures))
        res[r.parent.name] = s
        print(json.dumps(s, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
