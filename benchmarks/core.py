"""Issue-2 figures: distilled (au) vs scratch students on Banking77 (full, 10-shot) and CIFAR-10; issue 7: 10-shot
Banking77 with the unlabelled rest of the training texts as transfer set.

Every arm is one `distillery run` of a ready config with overrides; finished arms (metrics.json present) are
reused and interrupted ones resumed, so the script can be re-run after an interruption. Prints a table and
writes benchmarks/results/core.json.

    python benchmarks/core.py                 # all arms
    python benchmarks/core.py --only b77_10shot_scratch b77_10shot_au
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
from pathlib import Path

import torch
from text_thesis import STUDY

from distillery.api import resume, run
from distillery.config import load_config
from distillery.report.compare import _same_config

ROOT = Path(__file__).resolve().parents[1]
B77 = ROOT / "configs" / "banking77_minilm_to_textcnn.yaml"
B77_TF = ROOT / "configs" / "banking77_minilm_to_transformer.yaml"
TF_OLD = STUDY  # the settings these arms ran with, before the config's recipe: the thesis study's own
C10 = ROOT / "configs" / "cifar10_resnet56_to_resnet20.yaml"
ARMS: dict[str, tuple[Path, str, list[str]]] = {
    "b77_full_scratch": (B77, "scratch", ["train.epochs=20"]),
    "b77_full_au": (B77, "au", ["train.epochs=20"]),
    # the full training split plus 3 EDA-edited copies of every text as an unlabelled transfer set (issue 7)
    "b77_full_eda_au": (B77, "au", ["train.epochs=20", "data.text_augment.copies=3"]),
    # the teacher fine-tuned on the task (3 epochs, lr 2e-5) instead of linearly probed
    "b77_full_ftT_au": (B77, "au", ["train.epochs=20", "teacher.head=ft"]),
    # a 2-layer transformer student (4.38 M parameters) instead of the text CNN: same teacher, data and epochs
    "b77_tf_scratch": (B77_TF, "scratch", [*TF_OLD]),
    "b77_tf_au": (B77_TF, "au", [*TF_OLD]),
    # a second seed of the pair (the same validation split: data.seed stays 0)
    "b77_tf_scratch_s1": (B77_TF, "scratch", [*TF_OLD, "train.seed=1", "data.seed=0"]),
    "b77_tf_au_s1": (B77_TF, "au", [*TF_OLD, "train.seed=1", "data.seed=0"]),
    "b77_tf_eda_au": (B77_TF, "au", [*TF_OLD, "data.text_augment.copies=3"]),
    "b77_10shot_scratch": (B77, "scratch", ["train.epochs=60", "data.shots_per_class=10"]),
    "b77_10shot_au": (B77, "au", ["train.epochs=60", "data.shots_per_class=10"]),
    # issue 7: the 9,500 training texts left out by the 10-shot split as an unlabelled transfer set
    "b77_10shot_transfer_au": (B77, "au", ["train.epochs=20", "data.shots_per_class=10", "data.transfer=rest"]),
    # issue 7: CIFAR-10 with 10 % of the labels, with and without the unlabelled remainder as transfer set
    "c10_10pct_au": (C10, "au", ["train.epochs=10", "data.shots_per_class=500"]),
    "c10_10pct_transfer_au": (C10, "au", ["train.epochs=10", "data.shots_per_class=500", "data.transfer=rest"]),
    # 10 % of the labels (500 per class), augmentation on, a longer schedule: 60 epochs of 5,000 images
    "c10_10pct_e60_scratch": (C10, "scratch", ["train.epochs=60", "data.shots_per_class=500"]),
    "c10_10pct_e60_au": (C10, "au", ["train.epochs=60", "data.shots_per_class=500"]),
    "c10_scratch": (C10, "scratch", ["train.epochs=5", "data.augment=none"]),
    "c10_au": (C10, "au", ["train.epochs=5", "data.augment=none"]),
    "c10_e15_scratch": (C10, "scratch", ["train.epochs=15", "data.augment=none"]),
    "c10_e15_au": (C10, "au", ["train.epochs=15", "data.augment=none"]),
    # teacher adapted to the JPEG copy (teacher.head=ft: 3 epochs on the augmented train split), augmentation on
    "c10_aug_scratch": (C10, "scratch", ["train.epochs=15"]),
    "c10_aug_ftT_au": (C10, "au", ["train.epochs=15", "teacher.head=ft", "teacher.head_epochs=3",
                                   "teacher.head_lr=0.0001"]),
    # issue 27 item 4: kd (T = 4) from the same adapted teacher, against c10_aug_scratch
    "c10_aug_ftT_kd": (C10, "kd", ["train.epochs=15", "teacher.head=ft", "teacher.head_epochs=3",
                                   "teacher.head_lr=0.0001"]),
    # the same at 5 epochs, the teacher adapted for one epoch (fits a session on this 2-core machine)
    "c10_aug5_scratch": (C10, "scratch", ["train.epochs=5"]),
    "c10_aug5_ftT_au": (C10, "au", ["train.epochs=5", "teacher.head=ft", "teacher.head_epochs=1",
                                    "teacher.head_lr=0.0001"]),
}


def epoch_test_accuracies(run_dir: Path) -> list[float]:
    """Per-epoch test accuracy from the run's Lightning CSV log (authoritative for every run, including those
    made before the per-epoch history in metrics.json was fixed)."""
    with open(run_dir / "logs" / "metrics.csv") as f:
        return [float(r["test/acc"]) for r in csv.DictReader(f) if r.get("test/acc")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="arm names to run")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "bench"), help="where run directories go")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name, (cfg_path, method, over) in ARMS.items():
        if args.only and name not in args.only:
            continue
        out = Path(args.runs) / name
        cfg = load_config(cfg_path, [*over, f"output.dir={out}", "train.progress=false", "train.test_every_epoch=true"],
                          method)  # the per-epoch test accuracies (best and last epoch) of the table
        if (out / "metrics.json").exists():
            m = json.loads((out / "metrics.json").read_text())
        elif out.exists() and any(out.iterdir()) and _same_config(out, cfg):
            m = resume(out)  # interrupted: continue from its last checkpoint
        else:
            m = run(cfg)
        results[name] = {"config": str(cfg_path.relative_to(ROOT)), "method": method, "overrides": over,
                         "student_accuracy": m["student"]["accuracy"],
                         "student_best_epoch_accuracy": max(epoch_test_accuracies(out)),
                         "student_last_epoch_accuracy": epoch_test_accuracies(out)[-1],
                         "epoch_test_accuracies": [round(a, 4) for a in epoch_test_accuracies(out)],
                         "student_params": m["student"]["params"],
                         "teacher_accuracy": (m["teacher"] or {}).get("accuracy"),
                         "epochs": m["train"]["epochs"], "wall_time_s": m["train"]["wall_time_s"]}
        print(f"{name:22s} student {m['student']['accuracy']:.4f} "
              f"(best epoch {results[name]['student_best_epoch_accuracy']:.4f}) "
              f"params {m['student']['params']:,} teacher {results[name]['teacher_accuracy']} "
              f"wall {m['train']['wall_time_s']:.0f}s", flush=True)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "core.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous.update(results)  # a re-run arm replaces its whole record (no stale field of an older format stays)
    previous["_machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                            "torch": torch.__version__}
    path.write_text(json.dumps(previous, indent=2))


if __name__ == "__main__":
    main()
