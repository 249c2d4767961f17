"""Issue-27 item 4: a distillation recipe for ResNet-20 on the full CIFAR-10 training split that beats scratch.

Every arm trains configs/cifar10_resnet56_to_resnet20.yaml with the same schedule, data, augmentation and student;
the distilled arms are taught by the CIFAR ResNet-56 adapted to the JPEG images (``teacher.head: ft``). The
study runs seed-major (seed 0 of every arm, then seed 1, ...), so a study stopped early still compares arms at
equal seeds. Each seed's result is recorded in the JSON as soon as its run ends and is not run again (the run
directories need not survive: a later session, or another machine, continues the study from the JSON alone); an
interrupted run resumes from its run directory. The JSON holds each arm's per-seed results, their mean ± std,
FLOPs, and the gap to scratch at equal seeds. The best arm found, "kd (ens4)" of study e25, is shipped as
configs/cifar10_ensemble_to_resnet20.yaml (tests/test_config.py checks that it is that arm's configuration).

    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25                # about 2.3 h on 2 CPU cores
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --arms kd --seeds 1 \
        --variant T1 --kd-set distill.temperature=1                                 # a variant; scratch is shared
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --arms kd --seeds 1 --variant ens4 \
        --kd-set "teacher.model=[resnet20,resnet32,resnet44,resnet56]" --kd-set "teacher.weights=[...]"   # ensemble
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --arms dkd --only-seeds 1 --variant ... # one seed
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --set train.accelerator=gpu
    python benchmarks/cifar_recipe.py --table
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from text_thesis import _commit, aggregate, run_record

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "configs" / "cifar10_resnet56_to_resnet20.yaml"
OUT = ROOT / "benchmarks" / "results" / "cifar_recipe.json"
# the teacher every distilled arm uses: ResNet-56 fine-tuned 3 epochs on the JPEG training split (88.55 % test)
TEACHER = ["teacher.head=ft", "teacher.head_epochs=3", "teacher.head_lr=0.0001"]


def table(results: dict) -> str:
    """The docs table: every arm of every study, its gap to scratch over the seeds both have."""
    rows = ["| study | arm | seeds | test accuracy (%) | vs scratch (points, same seeds) | total FLOPs |",
            "|---|---|---:|---:|---:|---:|"]
    for tag, study in results.get("studies", {}).items():
        arms = study["arms"]
        for a in arms.values():
            _migrate(a)
        gap = gaps(arms)
        for name, a in arms.items():
            g = f"{gap[name]:+.2f}" if name in gap else ""
            rows.append(f"| {tag} | {name} | {a['seeds']} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} | {g} | "
                        f"{a['total_flops']:.3g} |")
    return "\n".join(rows)


PER_SEED = ("accuracy", "total_flops", "run_flops", "train_time_s", "teacher_accuracy", "teacher_head",
            "teacher_head_info", "commit")


def summarize(per_seed: dict[str, dict]) -> dict:
    """An arm's figures over its recorded seeds (mean ± sample std of the test accuracy)."""
    return aggregate([per_seed[k] for k in sorted(per_seed, key=int)])


def _migrate(arm: dict) -> None:
    """An arm recorded before per-seed records (its seeds 0..n-1 as lists) gets them, from what it holds."""
    if "per_seed" in arm or "accuracy" not in arm:
        return
    commit = arm["commit"] if isinstance(arm["commit"], str) else arm["commit"][0]
    arm["per_seed"] = {str(i): {**{k: arm[k] for k in PER_SEED if k in arm}, "accuracy": a, "commit": commit,
                                "epochs": arm["epochs"][0], "precision": arm["precision"][0],
                                "run": arm["runs"][i]} for i, a in enumerate(arm["accuracy"])}
    arm.pop("runs", None)


def gaps(arms: dict) -> dict[str, float]:
    """Each distilled arm's mean minus scratch's, in points, over the seeds both have recorded."""
    base = arms.get("scratch", {}).get("per_seed", {})
    out = {}
    for name, a in arms.items():
        both = sorted(set(a.get("per_seed", {})) & set(base), key=int)
        if name != "scratch" and both:
            out[name] = 100 * statistics.mean(a["per_seed"][k]["accuracy"] - base[k]["accuracy"] for k in both)
    return out


def main() -> None:
    from distillery.report.compare import compare

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag", default="default", help="name of this schedule (the --set overrides) in the JSON")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (each runs once: recorded seeds are skipped)")
    ap.add_argument("--only-seeds", type=int, nargs="+", default=None,
                    help="run just these seeds, e.g. a variant tried on the seed whose teacher cache exists")
    ap.add_argument("--arms", nargs="+", default=["kd", "scratch"], help="presets; scratch is the baseline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="a config override for every arm, e.g. train.epochs=25")
    ap.add_argument("--variant", default=None, help="name of the distilled arms' --kd-set overrides, e.g. T1")
    ap.add_argument("--kd-set", dest="kd_overrides", action="append", default=[],
                    help="an override for the distilled arms only (their teacher or loss: teacher.*, distill.*), e.g. "
                         "distill.temperature=1")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "cifar_recipe")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    if any(not o.startswith(("distill.", "teacher.")) for o in args.kd_overrides):
        raise SystemExit("--kd-set is for the distilled arms' teacher and loss (teacher.*, distill.*); other "
                         "settings go to --set, which every arm gets")
    if bool(args.kd_overrides) != bool(args.variant):
        raise SystemExit("--kd-set and --variant go together: name the distilled arms' overrides")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    common = ["data.seed=0", "train.progress=false", f"train.num_threads={args.threads}", *args.overrides]
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    study = results.setdefault("studies", {}).setdefault(args.tag, {})
    if study.get("common", common) != common:
        raise SystemExit(f"{args.out}: study {args.tag!r} ran with {study['common']}; give another --tag")
    study.pop("setting", None)  # the first version's record of the same settings
    study.update(common=common, teacher=TEACHER)
    study.setdefault("arms", {})
    runs = args.runs / args.tag
    for arm_rec in study["arms"].values():
        _migrate(arm_rec)
    seeds = args.only_seeds if args.only_seeds is not None else range(args.seeds)
    for seed in seeds:  # seed-major: the arms stay comparable at equal seeds
        for arm in args.arms:
            distilled = arm != "scratch"
            key = f"{arm} ({args.variant})" if distilled and args.variant else arm
            over = [*common, *TEACHER, *args.kd_overrides] if distilled else common
            rec = study["arms"].setdefault(key, {"overrides": over, "per_seed": {}})
            if rec.get("overrides", over) != over:
                raise SystemExit(f"{args.out}: arm {key!r} of {args.tag!r} ran with {rec['overrides']}; give another "
                                 "--variant")
            if str(seed) in rec["per_seed"]:
                print(f"{args.tag} {key} seed {seed}: {100 * rec['per_seed'][str(seed)]['accuracy']:.2f} % "
                      "(recorded)", flush=True)
                continue
            out = runs / (f"{arm}_{args.variant}" if distilled and args.variant else arm)
            compare(str(TASK), [arm], seeds=1, out=str(out), overrides=[*over, f"train.seed={seed}"], quiet=True)
            rec["per_seed"][str(seed)] = run_record(out / f"{arm}_s{seed}")
            rec.update(summarize(rec["per_seed"]), overrides=over)
            print(f"{args.tag} {key} seed {seed}: {100 * rec['per_seed'][str(seed)]['accuracy']:.2f} %", flush=True)
            study["gap_points"] = gaps(study["arms"])
            study.update(config=str(TASK.relative_to(ROOT)), commit=_commit(),
                         machine={"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                                  "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                                  "torch": torch.__version__})
            study["minutes_last_invocation"] = round((time.perf_counter() - t0) / 60, 1)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(args.out)  # a study killed while writing keeps the previous JSON
    print(table(results))


if __name__ == "__main__":
    main()
