"""Issue-27 item 4: a distillation recipe for ResNet-20 on the full CIFAR-10 training split that beats scratch.

Every arm trains configs/cifar10_resnet56_to_resnet20.yaml with the same schedule, data, augmentation and student;
the distilled arms are taught by the CIFAR ResNet-56 adapted to the JPEG images (``teacher.head: ft``). The
study runs seed-major (seed 0 of every arm, then seed 1, ...), so a study stopped early still compares arms at
equal seeds; finished runs are reused and an interrupted run resumes, so rerunning the command continues it.
The JSON (after every run) holds each arm's accuracies, mean ± std, FLOPs, and the gap to scratch.

    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25                # about 2.3 h on 2 CPU cores
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --arms kd --seeds 1 \
        --variant T1 --kd-set distill.temperature=1                                 # a variant; scratch is shared
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --arms kd --seeds 1 --variant ens4 \
        --kd-set "teacher.model=[resnet20,resnet32,resnet44,resnet56]" --kd-set "teacher.weights=[...]"   # ensemble
    python benchmarks/cifar_recipe.py --tag e25 --set train.epochs=25 --set train.accelerator=gpu
    python benchmarks/cifar_recipe.py --table
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from text_thesis import _commit, arm_summary

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "configs" / "cifar10_resnet56_to_resnet20.yaml"
OUT = ROOT / "benchmarks" / "results" / "cifar_recipe.json"
# the teacher every distilled arm uses: ResNet-56 fine-tuned 3 epochs on the JPEG training split (88.55 % test)
TEACHER = ["teacher.head=ft", "teacher.head_epochs=3", "teacher.head_lr=0.0001"]


def table(results: dict) -> str:
    rows = ["| study | arm | seeds | test accuracy (%) | vs scratch (points) | total FLOPs |",
            "|---|---|---:|---:|---:|---:|"]
    for tag, study in results.get("studies", {}).items():
        arms = study["arms"]
        base = arms.get("scratch")
        for name, a in arms.items():
            gap = "" if base is None or name == "scratch" or a["seeds"] != base["seeds"] else \
                f"{100 * (a['mean'] - base['mean']):+.2f}"
            rows.append(f"| {tag} | {name} | {a['seeds']} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} | {gap} | "
                        f"{a['total_flops']:.3g} |")
    return "\n".join(rows)


def main() -> None:
    from distillery.report.compare import compare

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag", default="default", help="name of this schedule (the --set overrides) in the JSON")
    ap.add_argument("--seeds", type=int, default=3)
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
    for seeds in range(1, args.seeds + 1):  # seed-major: the arms stay comparable at equal seeds
        for arm in args.arms:
            distilled = arm != "scratch"
            key = f"{arm} ({args.variant})" if distilled and args.variant else arm
            over = [*common, *TEACHER, *args.kd_overrides] if distilled else common
            prior = study["arms"].get(key, {}).get("overrides", over)
            if prior != over:
                raise SystemExit(f"{args.out}: arm {key!r} of {args.tag!r} ran with {prior}; give another --variant")
            out = runs / (f"{arm}_{args.variant}" if distilled and args.variant else arm)
            compare(str(TASK), [arm], seeds=seeds, out=str(out), overrides=over, quiet=True)
            study["arms"][key] = {**arm_summary([out / f"{arm}_s{s}" for s in range(seeds)]), "overrides": over}
            print(f"{args.tag} {key} seed {seeds - 1}: {100 * study['arms'][key]['accuracy'][-1]:.2f} %", flush=True)
            base = study["arms"].get("scratch")
            study["gap_points"] = {n: 100 * (a["mean"] - base["mean"]) for n, a in study["arms"].items()
                                   if base is not None and n != "scratch" and a["seeds"] == base["seeds"]}
            study.update(config=str(TASK.relative_to(ROOT)), commit=_commit(),
                         machine={"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                                  "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                                  "torch": torch.__version__})
            study["minutes_last_invocation"] = round((time.perf_counter() - t0) / 60, 1)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
