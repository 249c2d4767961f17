"""Issue-3 figures: distillation methods compared on Banking77 (MiniLM teacher -> text CNN student).

Every arm is one `distillery run` of configs/banking77_minilm_to_textcnn.yaml with ``--method M`` and the
setting's overrides; the same student, data, epochs and seeds for every method. Finished arms (metrics.json
present) are reused. Prints a Markdown table and writes benchmarks/results/methods.json.

    python benchmarks/methods.py                                    # 10-shot (60 epochs) and full (20 epochs)
    python benchmarks/methods.py --settings 10shot --seeds 0 1 2
    python benchmarks/methods.py --from-compare runs/textcnn_20ep --methods scratch kd au --seeds 0 1 2
        # records the runs of a finished `distillery compare` (its arms and overrides) as the setting "compare"
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from distillery.api import run
from distillery.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "banking77_minilm_to_textcnn.yaml"
METHODS = ["scratch", "kd", "au", "crd", "srrl", "dkd", "rkd"]
SETTINGS = {
    "10shot": ["data.shots_per_class=10", "train.epochs=60"],
    "full": ["train.epochs=20"],
}


def arm(setting: str, method: str, seed: int, runs: Path) -> dict:
    out = runs / f"{setting}_{method}_s{seed}"
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    over = [*SETTINGS[setting], f"train.seed={seed}", f"output.dir={out}", "train.progress=false"]
    return run(load_config(CONFIG, over, method), quiet=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--methods", nargs="*", default=METHODS)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--runs", default=str(ROOT / "runs" / "methods"))
    ap.add_argument("--from-compare", type=Path, default=None,
                    help="a finished `distillery compare --out DIR` of this config: its runs are recorded")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    path = ROOT / "benchmarks" / "results" / "methods.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if args.from_compare is not None:
        spec = json.loads((args.from_compare / "compare.json").read_text())
        SETTINGS["compare"] = spec["overrides"]
        results["compare"] = {}
        for method in args.methods:
            ms = [json.loads((args.from_compare / f"{method}_s{s}" / "metrics.json").read_text()) for s in args.seeds]
            accs = [m["student"]["accuracy"] for m in ms]
            results["compare"][method] = {
                "accuracy": accs, "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else None, "seeds": args.seeds,
                "train_time_s": [m["train"]["train_time_s"] for m in ms],
                "teacher_accuracy": (ms[0]["teacher"] or {}).get("accuracy"), "overrides": spec["overrides"],
                "command": spec.get("command"), "precision": ms[0]["train"].get("precision")}
        path.write_text(json.dumps(results, indent=2))
        print(table({"compare": results["compare"]}))
        return
    for setting in args.settings:
        for method in args.methods:
            accs, walls, teacher = [], [], None
            for seed in args.seeds:
                m = arm(setting, method, seed, Path(args.runs))
                accs.append(m["student"]["accuracy"])
                walls.append(m["train"]["train_time_s"])
                teacher = (m["teacher"] or {}).get("accuracy", teacher)
            results.setdefault(setting, {})[method] = {
                "accuracy": accs, "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else None, "seeds": args.seeds,
                "train_time_s": walls, "teacher_accuracy": teacher, "overrides": SETTINGS[setting]}
            print(f"{setting:7s} {method:8s} {statistics.mean(accs):.4f} {accs}", flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2))
    print(table(results))


def table(results: dict) -> str:
    """The Markdown table of docs/methods.md: one row per method, one column per setting."""
    settings = [s for s in SETTINGS if s in results]
    methods = [m for m in METHODS if any(m in results[s] for s in settings)]
    head = "| method | " + " | ".join(f"{s} ({' '.join(SETTINGS[s])})" for s in settings) + " |"
    lines = [head, "|---|" + "---|" * len(settings)]
    for m in methods:
        cells = []
        for s in settings:
            r = results[s].get(m)
            if r is None:
                cells.append("—")
                continue
            base = results[s].get("scratch", {}).get("mean")
            diff = f" ({100 * (r['mean'] - base):+.2f})" if base is not None and m != "scratch" else ""
            std = f" ± {100 * r['std']:.2f}" if r.get("std") else ""
            cells.append(f"{100 * r['mean']:.2f} %{std}{diff}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
