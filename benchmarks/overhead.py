"""Issue-4 figures: what distillation costs on top of training the student alone, live and from the cache.

One process, identical data, student and epochs per task; three arms each:

- ``student``: the student alone (``--method scratch``);
- ``live``: ``au`` distillation with the teacher run at every step (``teacher.cache=off``);
- ``cached``: ``au`` from a freshly built teacher-output cache (its build time reported separately).

Epoch times are the training steps only (evaluation excluded), from each run's history. The teacher's forward time
over the same samples is measured inside the live run. With ``--seeds N`` it also compares the test accuracy of
live and cached runs with augmentation on (CIFAR-10, 500 images per class). Prints a table; writes
benchmarks/results/overhead.json.

    python benchmarks/overhead.py                  # both tasks, 2 epochs each, and the 3-seed accuracy check
    python benchmarks/overhead.py --tasks cifar10 --epochs 1 --seeds 0
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from distillery.api import run
from distillery.config import load_config

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "cifar10": (ROOT / "configs" / "cifar10_resnet56_to_resnet20.yaml", []),
    "banking77": (ROOT / "configs" / "banking77_minilm_to_textcnn.yaml", []),
}


def _run(cfg_path: Path, method: str, over: list[str], out: Path) -> dict:
    """One run; a finished run (metrics.json present, e.g. from an interrupted benchmark) is read back."""
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    cfg = load_config(cfg_path, [*over, f"output.dir={out}", "train.progress=false"], method)
    return run(cfg, quiet=True)


def _epoch_s(m: dict) -> float:
    return statistics.mean(h["train_epoch_s"] for h in m["history"])


def overhead(task: str, epochs: int, work: Path, extra: list[str] | tuple = ()) -> dict:
    """Student alone vs live vs cached ``au`` on ``task`` for ``epochs`` epochs (``extra``: more overrides)."""
    cfg_path, base = TASKS[task]
    over = [*base, *extra, f"train.epochs={epochs}"]
    t0 = time.perf_counter()
    student = _run(cfg_path, "scratch", over, work / f"{task}_student")
    live = _run(cfg_path, "au", [*over, "teacher.cache=off"], work / f"{task}_live")
    cached = _run(cfg_path, "au", [*over, f"teacher.cache={work / f'{task}_cache'}"], work / f"{task}_cached")
    s, lv, c = _epoch_s(student), _epoch_s(live), _epoch_s(cached)
    t_fwd = live["teacher"]["live_forward_s"] / epochs
    cache = cached["teacher"]["cache"]
    build_per_view = cache["build_s"] / cache["views"]
    fwd_per_view = cache["teacher_forward_s"] / cache["views"]
    n = student["train"]["train_size"]
    return {
        "task": task, "epochs": epochs, "train_size": n,
        "student_epoch_s": s, "live_epoch_s": lv, "cached_epoch_s": c, "teacher_forward_epoch_s": t_fwd,
        "cache_build_s": cache["build_s"], "cache_views": cache["views"], "cache_mib": cache["size_bytes"] / 2**20,
        "cache_teacher_forward_s": cache["teacher_forward_s"],
        "samples_per_s": {"student": n / s, "live": n / lv, "cached": n / c},
        "ratios": {"cached_over_student": c / s, "live_over_student_plus_teacher": lv / (s + t_fwd),
                   "build_over_teacher_pass": build_per_view / fwd_per_view},
        "accuracy": {k: m["student"]["accuracy"] for k, m in (("student", student), ("live", live),
                                                               ("cached", cached))},
        "wall_s": time.perf_counter() - t0,
    }


def accuracy_check(seeds: int, epochs: int, work: Path) -> dict:
    """Live vs cached test accuracy with augmentation on, several seeds (CIFAR-10, 500 images per class)."""
    cfg_path, _ = TASKS["cifar10"]
    res: dict[str, list[float]] = {"live": [], "cached": []}
    for seed in range(seeds):
        over = [f"train.epochs={epochs}", "data.shots_per_class=500", f"train.seed={seed}", "data.augment=standard"]
        res["live"].append(_run(cfg_path, "au", [*over, "teacher.cache=off"],
                                work / f"acc_live_{seed}")["student"]["accuracy"])
        res["cached"].append(_run(cfg_path, "au", [*over, f"teacher.cache={work / f'acc_cache_{seed}'}"],
                                  work / f"acc_cached_{seed}")["student"]["accuracy"])
    summary = {k: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": v}
               for k, v in res.items()}
    spread = max(summary["live"]["std"], summary["cached"]["std"])
    summary["difference_of_means"] = summary["cached"]["mean"] - summary["live"]["mean"]
    summary["within_seed_spread"] = abs(summary["difference_of_means"]) <= max(
        spread, max(res["live"]) - min(res["live"]))
    summary["epochs"], summary["seeds"] = epochs, seeds
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS),
                    help="tasks of the timing table (none: only the accuracy check)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the live-vs-cached accuracy check (0: skip)")
    ap.add_argument("--acc-epochs", type=int, default=5)
    ap.add_argument("--work", default=None,
                    help="where the runs go (default: a temporary directory); finished runs there are reused")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(args.work or tempfile.mkdtemp(prefix="distillery_overhead_"))
    out = ROOT / "benchmarks" / "results" / "overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict = json.loads(out.read_text()) if out.exists() else {"tasks": {}}
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__}
    print(f"{'task':10s} {'student s/ep':>12s} {'live s/ep':>10s} {'cached s/ep':>11s} {'teacher fwd':>11s} "
          f"{'build s':>8s} {'cached/stud':>11s} {'live/(s+t)':>10s} {'build/pass':>10s}", flush=True)
    for task in args.tasks:
        r = overhead(task, args.epochs, work)
        results["tasks"][task] = r
        q = r["ratios"]
        print(f"{task:10s} {r['student_epoch_s']:12.1f} {r['live_epoch_s']:10.1f} {r['cached_epoch_s']:11.1f} "
              f"{r['teacher_forward_epoch_s']:11.1f} {r['cache_build_s']:8.1f} {q['cached_over_student']:11.3f} "
              f"{q['live_over_student_plus_teacher']:10.3f} {q['build_over_teacher_pass']:10.3f}", flush=True)
        out.write_text(json.dumps(results, indent=2))
    if args.seeds:
        a = accuracy_check(args.seeds, args.acc_epochs, work)
        results["accuracy_live_vs_cached"] = a
        print(f"accuracy with augmentation, {args.seeds} seeds, {args.acc_epochs} epochs: live "
              f"{a['live']['mean']:.4f} ± {a['live']['std']:.4f}, cached {a['cached']['mean']:.4f} ± "
              f"{a['cached']['std']:.4f}; within the seed spread: {a['within_seed_spread']}", flush=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
