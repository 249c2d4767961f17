"""Issue 6: KD vs pre-training from scratch at a fixed compute budget (Bui et al. 2024), at 2-core-CPU scale.

Runs `distillery compare configs/mlm_budget.yaml --arms scratch,tinybert,minilm --budget flops=5e13` (every arm the
same FLOPs, the MiniLM teacher's forward passes included; each student then fine-tuned on the GLUE dev tasks), adds
the GLUE scores of the same student with no pre-training at all (random initialisation), and writes
benchmarks/results/mlm_budget.json. Finished arms and GLUE tasks are reused, so it resumes after an interruption.

    python benchmarks/mlm_budget.py                       # ~80 min on 2 CPU cores
    python benchmarks/mlm_budget.py --budget 1e12 --max-train 200 --out runs/mlm_quick   # pipeline check
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from distillery.config import load_config
from distillery.report.compare import compare

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mlm_budget.yaml"


def random_init_glue(out: Path, overrides: list[str]) -> dict:
    """GLUE dev scores of the student architecture without pre-training (the floor every arm should beat)."""
    from distillery.lm.glue import finetune_glue
    from distillery.models import create_model
    from distillery.models.hf import load_tokenizer

    cfg = load_config(CONFIG, overrides)
    model_dir = out / "no_pretraining" / "model"
    if not (model_dir / "config.json").is_file():
        tok = load_tokenizer(cfg.teacher.model[3:])
        torch.manual_seed(cfg.train.seed)
        net = create_model(cfg.student.model, len(tok), family="mlm", block=cfg.data.max_length,
                           **cfg.student.kwargs)
        net.model.save_pretrained(str(model_dir))
        tok.save_pretrained(str(model_dir))
    path = out / "no_pretraining" / "glue.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    g = cfg.glue
    for task in g.tasks:
        if task not in done:
            done[task] = finetune_glue(model_dir, task, g.source, lrs=tuple(g.lrs), epochs=g.epochs,
                                       batch_size=g.batch_size, max_length=g.max_length, max_train=g.max_train,
                                       seed=cfg.train.seed, bf16="bf16" in str(cfg.train.precision))
            path.write_text(json.dumps(done, indent=1))
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=5e13, help="FLOPs per arm")
    ap.add_argument("--arms", default="scratch,tinybert,minilm")
    ap.add_argument("--max-train", type=int, default=None, help="override glue.max_train")
    ap.add_argument("--out", default=str(ROOT / "runs" / "mlm_budget"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    over = [f"glue.max_train={args.max_train}"] if args.max_train else []
    t0 = time.perf_counter()
    compare(str(CONFIG), args.arms.split(","), budget=f"flops={args.budget:g}", out=str(out), overrides=over,
            command=f"distillery compare configs/mlm_budget.yaml --arms {args.arms} --budget flops={args.budget:g}"
            + "".join(f" --set {o}" for o in over))
    rows = {}
    for d in sorted(out.glob("*_s0")):
        m = json.loads((d / "metrics.json").read_text())
        c = m["compute"]
        rows[m["train"]["method"]] = {
            "val_ce": m["student"]["val_ce"], "tokens_seen": m["train"]["tokens_seen"], "steps": c["steps"],
            "unique_tokens": m["train"]["unique_tokens"], "total_flops": c["total_flops"],
            "teacher_flops": c["teacher_flops"], "train_time_s": m["train"]["train_time_s"],
            "params": m["student"]["params"], "non_embedding_params": m["student"]["non_embedding_params"],
            "glue": {t: r["score"] for t, r in m.get("glue", {}).items()}}
    rows["no_pretraining"] = {"glue": {t: r["score"] for t, r in random_init_glue(out, over).items()}}
    for r in rows.values():
        r["glue_avg"] = statistics.mean(r["glue"].values()) if r["glue"] else None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    result = {"budget_flops": args.budget, "arms": rows, "wall_s": round(time.perf_counter() - t0, 1),
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__}, "commit": commit,
              "glue_metrics": {t: r["metric"] for t, r in json.loads((out / "no_pretraining" / "glue.json")
                                                                      .read_text()).items()}}
    dest = ROOT / "benchmarks" / "results" / ("mlm_budget.json" if not args.max_train else "mlm_budget_quick.json")
    dest.write_text(json.dumps(result, indent=2))
    for name, r in rows.items():
        print(f"{name:15s} val CE {r.get('val_ce', float('nan')):.4f} tokens {r.get('tokens_seen', 0):>10,} "
              f"GLUE " + " ".join(f"{t} {100 * v:.1f}" for t, v in r["glue"].items())
              + f" avg {100 * (r['glue_avg'] or 0):.1f}", flush=True)
    print(f"written {dest} ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
