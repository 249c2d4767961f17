"""Issue 12: a small distillation scaling study with causal LMs on Tiny Shakespeare (Busbridge et al. 2025).

Trains 3 teacher sizes (supervised), then 3 student sizes at 3 token budgets, each supervised and distilled from
every teacher (pure forward KL, lambda = 1, T = 1, top-128 teacher logits cached), all Llama-style with a 1,024-token
byte-level BPE tokenizer trained here on the corpus. Fits both laws with the planner's fitter on the runs of the
two smaller budgets and predicts the runs of the largest budget (held out); reports whether a stronger teacher is
always better (the capacity gap). Finished runs are reused, so the script resumes after an interruption.

    python benchmarks/clm_scaling.py            # the study (written for <= 2 hours on 2 CPU cores)
    python benchmarks/clm_scaling.py --quick    # a few minutes: smaller budgets, to check the pipeline
    python benchmarks/clm_scaling.py --plot-only    # redraw docs/img/clm_scaling.png from the results JSON
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from distillery.api import run
from distillery.scaling.fit import fit_laws, read_runs

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "text_corpus" / "tinyshakespeare.txt"
BASE = ROOT / "configs" / "clm_scaling.yaml"
TEACHERS = {"T1": (96, 2), "T2": (128, 3), "T3": (192, 4)}  # hidden size, layers (heads: hidden / 32)
STUDENTS = {"S1": (32, 1), "S2": (64, 2), "S3": (96, 2)}


def tokenizer(out: Path) -> Path:
    """A byte-level BPE tokenizer (1,024 tokens) trained on the corpus, saved as a transformers tokenizer."""
    if (out / "tokenizer.json").exists():
        return out
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train([str(CORPUS)], vocab_size=1024, min_frequency=2, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.save_pretrained(str(out))
    return out


def config(name: str, size: tuple[int, int], steps: int, out: Path, tok: Path, teacher: Path | None) -> dict:
    """configs/clm_scaling.yaml with this run's size, budget, teacher (None: supervised) and learning rate."""
    import yaml

    hidden, layers = size
    cfg = yaml.safe_load(BASE.read_text())
    cfg["data"]["source"] = str(CORPUS)
    cfg["student"]["tokenizer"] = str(tok)
    cfg["student"]["kwargs"] = {"hidden_size": hidden, "intermediate_size": int(hidden * 8 / 3),
                                "num_hidden_layers": layers, "num_attention_heads": max(1, hidden // 32)}
    cfg["train"]["budget"] = {"steps": steps}
    cfg["train"]["lr"] = 3e-3 * (64 / hidden) ** 0.5  # wider models a lower rate (1/sqrt(width) heuristic)
    cfg["output"]["dir"] = str(out / name)
    if teacher is None:
        cfg["distill"] = {"method": "scratch", "temperature": 1.0}
        cfg.pop("teacher")
    else:
        cfg["teacher"]["model"] = f"hf:{teacher}"
    return cfg


def arm(cfg: dict) -> dict:
    out = Path(cfg["output"]["dir"])
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    return run(cfg, quiet=True)


def plot_study(result: dict, dest: Path) -> Path:
    """Validation CE against tokens, one panel per student: supervised and distilled from each teacher; the largest
    budget (held out of the fit) with the laws' predictions for it."""
    from matplotlib.figure import Figure

    rows = result["runs"]
    budgets = sorted({r["steps"] for r in rows})
    held = [r for r in rows if r["steps"] == budgets[-1]]
    err = {"supervised": iter(result["held_out_relative_error"]["supervised"]),
           "distillation": iter(result["held_out_relative_error"]["distillation"])}
    pred = {id(r): r["student_ce"] * (1 + next(err["supervised" if r["teacher"] is None else "distillation"]))
            for r in held}
    students = list(dict.fromkeys(r["student"] for r in rows))
    fig = Figure(figsize=(4.2 * len(students), 3.8))
    colors = {None: "#222222", "T1": "#1b5e9e", "T2": "#d9822b", "T3": "#2e8b57"}
    for k, s in enumerate(students):
        ax = fig.add_subplot(1, len(students), k + 1)
        for t, c in colors.items():
            pts = sorted((r for r in rows if r["student"] == s and r["teacher"] == t), key=lambda r: r["tokens"])
            if not pts:
                continue
            tce = f" (teacher CE {result['teachers'][t]['val_ce']:.3f})" if t else ""
            ax.plot([r["tokens"] for r in pts], [r["student_ce"] for r in pts], marker="o", ms=4, color=c,
                    ls="--" if t is None else "-", label=(t or "supervised") + tce)
            last = pts[-1]
            if id(last) in pred:
                ax.plot([last["tokens"]], [pred[id(last)]], marker="x", ms=8, color=c, ls="none")
        p = next(r["params"] for r in rows if r["student"] == s)
        ax.set_xscale("log")
        ax.set_title(f"student {s}: {p:,} non-embedding params", fontsize=9)
        ax.set_xlabel("training tokens (x: law's prediction, held out of the fit)", fontsize=8)
        ax.set_ylabel("validation cross-entropy (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110, bbox_inches="tight")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "clm_scaling"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from the results JSON")
    args = ap.parse_args()
    png = ROOT / "docs" / "img" / f"clm_scaling{'_quick' if args.quick else ''}.png"
    if args.plot_only:
        res = ROOT / "benchmarks" / "results" / f"clm_scaling{'_quick' if args.quick else ''}.json"
        print(f"written {plot_study(json.loads(res.read_text()), png)}")
        return
    torch.set_num_threads(args.threads)
    out = Path(args.runs) / ("quick" if args.quick else "full")
    tok = tokenizer(Path(args.runs) / "tokenizer")
    teacher_steps = 150 if args.quick else 1500
    budgets = [20, 40, 80] if args.quick else [150, 300, 600]
    teachers = {t: arm(config(f"teacher_{t}", s, teacher_steps, out, tok, None)) for t, s in TEACHERS.items()}
    for t, m in teachers.items():
        print(f"teacher {t}: val CE {m['student']['val_ce']:.4f}, non-embedding params "
              f"{m['student']['non_embedding_params']:,}", flush=True)
    rows = []
    for s, size in STUDENTS.items():
        for steps in budgets:
            for t in [None, *TEACHERS]:
                name = f"{s}_{steps}_{t or 'supervised'}"
                tdir = Path(teachers[t]["student"]["model_dir"]) if t else None
                m = arm(config(name, size, steps, out, tok, tdir))
                rows.append({"student": s, "steps": steps, "tokens": m["scaling"]["tokens"], "teacher": t,
                             "teacher_ce": m["scaling"]["teacher_loss"], "student_ce": m["student"]["val_ce"],
                             "params": m["scaling"]["student_params"], "dir": str(Path(m["student"]["model_dir"])
                                                                                   .parent),
                             "wall_s": m["train"]["wall_time_s"]})
                print(f"{name:24s} val CE {m['student']['val_ce']:.4f}", flush=True)
    fit_rows = [r for r in rows if r["steps"] != budgets[-1]]
    held = [r for r in rows if r["steps"] == budgets[-1]]
    # the teachers are supervised runs of the same family too: they help pin down L(N, D)
    fit_dirs = [r["dir"] for r in fit_rows] + [str(Path(m["student"]["model_dir"]).parent) for m in teachers.values()]
    laws, sup_fit, dist_fit = fit_laws(read_runs(fit_dirs), bootstrap=50 if args.quick else 200)
    held_runs = read_runs([r["dir"] for r in held])
    err_sup = sup_fit.relative_error(held_runs, laws)
    err_dist = dist_fit.relative_error(held_runs, laws) if dist_fit is not None else np.array([])
    gap = {}
    for s in STUDENTS:
        for steps in budgets:
            d = {r["teacher"]: r["student_ce"] for r in rows if r["student"] == s and r["steps"] == steps
                 and r["teacher"]}
            best = min(d, key=d.get)
            gap[f"{s}_{steps}"] = {"best_teacher": best, "strongest_teacher": "T3", "ce_by_teacher": d}
    result = {"teachers": {t: {"val_ce": m["student"]["val_ce"], "params": m["scaling"]["student_params"]}
                           for t, m in teachers.items()},
              "runs": rows, "supervised_fit": {"coefficients": sup_fit.coefficients.as_dict(),
                                               "intervals": sup_fit.intervals, "level": sup_fit.level},
              "distillation_fit": None if dist_fit is None else {
                  "coefficients": dist_fit.coefficients.as_dict(), "intervals": dist_fit.intervals,
                  "level": dist_fit.level},
              "held_out_relative_error": {"supervised": err_sup.tolist(), "distillation": err_dist.tolist()},
              "capacity_gap": gap, "quick": args.quick}
    dest = ROOT / "benchmarks" / "results" / f"clm_scaling{'_quick' if args.quick else ''}.json"
    dest.write_text(json.dumps(result, indent=2, default=float))
    print(f"held-out relative error: supervised {np.abs(err_sup).mean():.3%} mean |e|, distillation "
          f"{np.abs(err_dist).mean() if len(err_dist) else float('nan'):.3%}; written {dest}")
    print("best teacher per (student, budget):", {k: v["best_teacher"] for k, v in gap.items()})
    print(f"written {plot_study(result, png)}")


if __name__ == "__main__":
    main()
