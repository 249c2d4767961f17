"""Fixed-seed runs whose metrics must not move when the code is reorganised (issue: one pipeline).

Runs the demo's two arms, a Banking77 10-shot `au` run and a tiny causal-LM run (Tiny Shakespeare, first 40k
tokens), each with a fixed seed and one thread, and writes the figures that must stay the same to a JSON file:

    python scripts/behaviour_check.py --out runs/behaviour/before.json      # on the old code
    python scripts/behaviour_check.py --out runs/behaviour/after.json       # on the new code
    python scripts/behaviour_check.py --compare runs/behaviour/before.json runs/behaviour/after.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
KEEP = ("accuracy", "best_accuracy", "val_ce", "best_val_ce", "params")  # student figures compared
TIMING = ("elapsed_s", "train_epoch_s", "compute_s")


def _figures(m: dict) -> dict:
    return {"student": {k: m["student"][k] for k in KEEP if k in m["student"]},
            "teacher": None if not m.get("teacher") else {k: m["teacher"].get(k) for k in ("accuracy", "val_ce")},
            "steps": m["train"]["steps"],
            "total_flops": m["compute"]["total_flops"],
            "history": [{k: v for k, v in h.items() if k not in TIMING} for h in m["history"]]}


def measure(work: Path) -> dict:
    import os

    import torch

    from distillery.api import run
    from distillery.config import load_config
    from distillery.demo import demo_config

    os.environ["DISTILLERY_CACHE"] = str(work / "cache")  # teacher heads and caches built afresh, not reused
    torch.set_num_threads(1)
    out: dict = {}
    for method in ("scratch", "au"):
        out[f"demo_{method}"] = _figures(run(demo_config(work / "demo", method), quiet=True))
    b77 = load_config(ROOT / "configs" / "banking77_minilm_to_textcnn.yaml",
                      ["data.shots_per_class=10", "train.epochs=10", "train.seed=0", "train.progress=false",
                       f"output.dir={work / 'b77_10shot_au'}"], "au")
    out["b77_10shot_au"] = _figures(run(b77, quiet=True))
    clm = load_config(ROOT / "configs" / "clm_tinyshakespeare.yaml",
                      ["data.max_tokens=40000", "train.seed=0", "train.progress=false",
                       f"output.dir={work / 'clm'}"], "scratch")
    out["clm_scratch"] = _figures(run(clm, quiet=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the figures here")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        for k in sorted(a):
            s = a[k]["student"]
            print(f"{k:16s} {json.dumps(s)}  {'SAME' if k not in diff else 'DIFFERENT'}")
        sys.exit(1 if diff else 0)
    work = Path(tempfile.mkdtemp(prefix="distillery-behaviour-"))
    try:
        figures = measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
