"""Issue-26 study: the thesis on text, measured as Farhat & Chen 2024 measure it.

The Banking77 transformer student (configs/banking77_minilm_to_transformer.yaml: 2 layers, 128 wide) trained four
ways, every arm with the same schedule, 3 seeds, one validation split (data.seed=0):

- ``scratch``: random initialisation, cross-entropy (the study pins 20 epochs without text augmentation,
  ``STUDY`` below, so this is also the fair baseline: the distilled arms see no data it does not see);
- ``kd`` and ``au``: random initialisation, distilled from all-MiniLM-L6-v2 + its head;
- ``finetune @ B``: the same architecture pre-trained with masked-LM on ../shared/data/text_corpus for a budget of
  B FLOPs (configs/banking77_mlm_pretrain.yaml), then fine-tuned on Banking77 like the other arms.

Compute per arm: distillation = teacher head + teacher cache + student training (the run's total FLOPs); the
pre-training route = pre-training + fine-tuning. Writes benchmarks/results/text_thesis.json and
docs/img/text_thesis.png (test accuracy against total FLOPs, both routes and scratch on one figure). Every run is
a ``distillery compare`` / ``distillery run`` whose run directory is reused when finished and resumed when
interrupted, so the study continues where it stopped.

    python benchmarks/text_thesis.py                    # the study (hours on 2 CPU cores; resumable)
    python benchmarks/text_thesis.py --table            # the docs table from the JSON
    python benchmarks/text_thesis.py --seeds 1 --epochs 2 --budgets 1e11 3e11 1e12 --runs /tmp/tt --out /tmp/tt.json
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "configs" / "banking77_minilm_to_transformer.yaml"
# the study's own settings, on top of the shipped config (whose recipe is the "(eda3l)" variant: 3 labelled EDA
# copies, 6 epochs): every arm of the route comparison trains 20 epochs on the original texts
STUDY = ["data.text_augment=null", "train.epochs=20"]
PRETRAIN = ROOT / "configs" / "banking77_mlm_pretrain.yaml"


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def pretrain(budget: float, out: Path, threads: int) -> Path:
    """The masked-LM pre-training run for ``budget`` FLOPs (reused when finished, resumed when interrupted): the
    very run ``distillery compare --pretrain-config ... --pretrain-budgets`` makes."""
    from distillery.report.compare import pretraining_run_config, run_or_reuse

    run_or_reuse(pretraining_run_config(str(PRETRAIN), budget, out, [f"train.num_threads={threads}"]),
                 f"pre-training for {budget:g} FLOPs", quiet=True)
    return out


def run_record(run_dir: Path, extra_flops: float = 0.0) -> dict:
    """One finished run's figures (its metrics.json): test accuracy, FLOPs (plus ``extra_flops`` of pre-training
    spent outside the run), the teacher's accuracy and head, training time, epochs and precision."""
    m = _metrics(run_dir)
    teacher = m.get("teacher") or {}
    return {"accuracy": round(m["student"]["accuracy"], 6), "total_flops": m["compute"]["total_flops"] + extra_flops,
            "run_flops": m["compute"]["total_flops"], "pretrain_flops": extra_flops,
            "teacher_accuracy": teacher.get("accuracy"), "teacher_head": teacher.get("head"),
            "teacher_head_info": teacher.get("head_info"), "train_time_s": m["train"]["train_time_s"],
            "epochs": m["train"].get("epochs"), "precision": m["train"].get("precision"), "commit": _commit(),
            "run": str(run_dir)}


def aggregate(records: list[dict]) -> dict:
    """An arm's figures over its runs' records (:func:`run_record`): the accuracies, their mean ± sample std, the
    mean FLOPs and training time, the first run's teacher, the epochs, precisions and commits seen."""
    acc = [r["accuracy"] for r in records]
    first = records[0]
    return {"accuracy": acc, "seeds": len(acc), "epochs": sorted({r["epochs"] for r in records}),
            "mean": statistics.mean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "total_flops": statistics.mean(r["total_flops"] for r in records),
            "run_flops": statistics.mean(r["run_flops"] for r in records),
            "pretrain_flops": first.get("pretrain_flops", 0.0), "teacher_accuracy": first["teacher_accuracy"],
            "teacher_head": first["teacher_head"], "teacher_head_info": first["teacher_head_info"],
            "train_time_s": statistics.mean(r["train_time_s"] for r in records),
            "precision": sorted({r["precision"] for r in records}), "commit": sorted({r["commit"] for r in records})}


def arm_summary(run_dirs: list[Path], extra_flops: float = 0.0) -> dict:
    """:func:`aggregate` over the runs in ``run_dirs``, with the commit of this checkout and the run folders."""
    return {**aggregate([run_record(d, extra_flops) for d in run_dirs]), "commit": _commit(),
            "runs": [str(d) for d in run_dirs]}


def _commit() -> str | None:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip() or None


def crossing(points: list[tuple[float, float]], target: float) -> float | None:
    """The pre-training FLOPs at which the fine-tuned accuracy first reaches ``target``, interpolated linearly in
    log FLOPs between measured budgets; None when no budget reaches it (or the smallest already does: then the
    smallest budget is returned, an upper bound)."""
    pts = sorted(points)
    for i, (f, a) in enumerate(pts):
        if a >= target:
            if i == 0:
                return f
            f0, a0 = pts[i - 1]
            w = (target - a0) / (a - a0)
            return 10 ** (math.log10(f0) + w * (math.log10(f) - math.log10(f0)))
    return None


def plot_accuracy_vs_flops(series: list[tuple[str, str, list[dict]]], ylabel: str, title: str, path: Path) -> None:
    """Test accuracy (mean ± std over seeds) against total FLOPs: one ``(label, marker, arms)`` per series, a line
    through several arms (a route's budgets), a point for one."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.6, 4.3))
    ax = fig.add_subplot()
    for label, marker, arms in series:
        if arms:
            ax.errorbar([a["total_flops"] for a in arms], [100 * a["mean"] for a in arms],
                        [100 * a["std"] for a in arms], marker=marker, capsize=3, label=label,
                        linestyle="-" if len(arms) > 1 else "none")
    ax.set_xscale("log")
    ax.set_xlabel("total FLOPs (pre-training + fine-tuning; teacher head + cache + student training)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def plot(results: dict, path: Path) -> None:
    arms = results["arms"]
    ft = sorted((a for a in arms.values() if a.get("pretrain_flops")), key=lambda a: a["total_flops"])
    series = [("MLM pre-training + fine-tuning (budgets)", "o", ft)]
    series += [(f"{n} (from random init)", m, [arms[n]]) for n, m in (("kd", "s"), ("au", "D"), ("scratch", "^"))
               if n in arms]
    # the shipped recipe (3 labelled EDA copies, 6 epochs) and its fair scratch arm, where measured over the seeds
    series += [(f"{n}: 3 labelled EDA copies, 6 epochs", m, [arms[n]])
               for n, m in (("kd (eda3l)", "P"), ("scratch (eda3l)", "v"))
               if arms.get(n, {}).get("seeds", 0) >= results["seeds"]]
    plot_accuracy_vs_flops(series, "Banking77 test accuracy (%)",
                           f"Distillation vs pre-training, transformer student ({results['seeds']} seeds)", path)


def table(results: dict) -> str:
    rows = ["| arm | test accuracy (%) | total FLOPs | of which pre-training | train time per run (s) |",
            "|---|---:|---:|---:|---:|"]
    for name, a in results["arms"].items():
        rows.append(f"| {name} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} | {a['total_flops']:.3g} | "
                    f"{a['pretrain_flops']:.3g} | {a['train_time_s']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    from distillery.report.compare import compare

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", nargs="+", type=float, default=[1e13, 1e14, 3e14],
                    help="masked-LM pre-training budgets in FLOPs (at least 30x apart, the largest >= 10x the "
                         "distillation run's total FLOPs)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="override the task config's epochs (quick looks)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "text_thesis")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "text_thesis.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "text_thesis.png")
    ap.add_argument("--only", nargs="*", default=None, help="a subset of: scratch kd au finetune")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="a config override for the scratch/kd/au arms of this invocation (a variant: give --tag)")
    ap.add_argument("--tag", default=None, help="a variant's name: its arms are recorded as '<arm> (<tag>)' and run "
                                                "in <runs>/<arm>_<tag>, beside the study's own")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    args = ap.parse_args()
    if args.overrides and not args.tag:
        ap.error("--set makes a variant of the study: name it with --tag")
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    # a teacher cache of the study's own: the teacher FLOPs charged are this version's (a head reused from an older
    # version's cache reports the FLOPs it cost then)
    over = [*STUDY, "data.seed=0", "train.progress=false", f"train.num_threads={args.threads}",
            f"teacher.cache_dir={args.runs / 'teacher_cache'}",
            *([f"train.epochs={args.epochs}"] if args.epochs else [])]
    want = set(args.only or ["scratch", "kd", "au", "finetune"])
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results.setdefault("arms", {})
    for a in results["arms"].values():  # arms measured before arms carried their commit: the file's commit then
        a.setdefault("commit", results.get("commit"))
    seeds = range(args.seeds)
    def save() -> None:  # after every arm: an interrupted study keeps what it measured
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))

    for arm in [a for a in ("scratch", "kd", "au") if a in want]:
        name, where = (f"{arm} ({args.tag})", args.runs / f"{arm}_{args.tag}") if args.tag else (arm, args.runs / arm)
        compare(str(TASK), [arm], seeds=args.seeds, out=str(where), overrides=over + args.overrides, quiet=True)
        results["arms"][name] = arm_summary([where / f"{arm}_s{s}" for s in seeds])
        if args.overrides:
            results["arms"][name]["overrides"] = args.overrides
        print(f"{name}: {100 * results['arms'][name]['mean']:.2f} %", flush=True)
        save()
    if "finetune" in want:
        for budget in args.budgets:
            pre = pretrain(budget, args.runs / f"pretrain_{budget:g}", args.threads)
            pm = _metrics(pre)
            out = args.runs / f"finetune_{budget:g}"
            compare(str(TASK), ["finetune"], seeds=args.seeds, out=str(out), overrides=over, finetune_weights=str(pre),
                    pretrain_run=str(pre), quiet=True)
            name = f"finetune @ {budget:g}"
            results["arms"][name] = arm_summary([out / f"finetune_s{s}" for s in seeds],
                                                extra_flops=pm["compute"]["total_flops"])
            results["arms"][name]["pretrain_val_ce"] = pm["student"].get("val_ce")
            print(f"{name}: {100 * results['arms'][name]['mean']:.2f} %", flush=True)
            save()
    arms = results["arms"]
    distilled = max((arms[m]["total_flops"] for m in ("kd", "au") if m in arms), default=None)
    if distilled and max(args.budgets) < 10 * distilled:
        print(f"note: the largest pre-training budget {max(args.budgets):.3g} is under 10x the distillation run's "
              f"{distilled:.3g} FLOPs", flush=True)
    ft = [(a["pretrain_flops"], a["mean"]) for a in arms.values() if a.get("pretrain_flops")]
    for method in ("au", "kd"):
        if method in arms and ft:
            target, cost = arms[method]["mean"], crossing(ft, arms[method]["mean"])
            finetune = statistics.mean(a["run_flops"] for a in arms.values() if a.get("pretrain_flops"))
            results[f"pretraining_to_match_{method}"] = {
                "target_accuracy": target, "pretrain_flops": cost,
                "route_flops": (cost + finetune) if cost else None,  # pre-training + fine-tuning
                "distillation_share": (arms[method]["total_flops"] / (cost + finetune)) if cost else None,
                # not reached: distillation's share of the largest route measured, an upper bound of the share
                "share_of_largest_route": arms[method]["total_flops"] / (max(f for f, _ in ft) + finetune),
                "note": "interpolated in log FLOPs" if cost else "not reached within the largest budget"}
    if not args.tag:  # a variant (often one seed) leaves the study's own settings as they are
        results["seeds"] = args.seeds
    results.pop("epochs", None)  # recorded per arm now
    measured = sorted(float(n.split("@")[1]) for n in arms if n.startswith("finetune @"))
    results.update(budgets=measured,
                   config=str(TASK.relative_to(ROOT)),
                   pretrain_config=str(PRETRAIN.relative_to(ROOT)),
                   commit=_commit(),
                   machine={"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                            "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
                            "torch": torch.__version__},
                   minutes_this_invocation=round((time.perf_counter() - t0) / 60, 1))
    save()
    plot(results, args.plot)
    print(table(results))
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
