"""Issue-10 check: SIGKILL a real run (and, separately, a teacher-cache build) at random moments, resume each time,
and compare the result with an uninterrupted run.

Training: Banking77, 10 examples per class, MiniLM-L6 teacher -> text CNN (`au`, dropout on), 30 epochs. The run is
started, killed after a random delay, resumed with ``distillery run --resume`` and killed again, ``--kills`` times,
then resumed to the end. Final test accuracy, per-epoch history and student weights must equal the reference.

Cache build: the full Banking77 training set and 3 EDA-edited copies of each text (38,012 texts, 38 chunks) into a
fresh cache directory, killed ``--kills`` times at random moments (each time the run is resumed and the build
continues from its last finished chunk); the finished arrays must equal those of a build that was never interrupted.

    python benchmarks/kill_resume.py                 # about 15 minutes on 2 cores; prints a summary, writes JSON
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "banking77_minilm_to_textcnn.yaml"
TRAIN_SET = ["data.shots_per_class=10", "train.epochs=30", "train.num_threads=1", "train.progress=false"]
# the training texts and 3 EDA-edited copies of each (38,012 texts, 38 chunks of 1,024): a build long enough that
# each random kill lands inside it
CACHE_SET = ["train.epochs=1", "train.num_threads=1", "train.progress=false", "data.max_length=32",
             "data.text_augment.copies=3"]
STRIP = ("elapsed_s", "train_epoch_s", "compute_s")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "distillery.cli", *args]


def start(run_dir: Path, overrides: list[str], log) -> subprocess.Popen:
    """A fresh run, or ``--resume`` when the directory already holds one."""
    if (run_dir / "config.yaml").is_file():
        args = cli("run", "--resume", str(run_dir), "-q")
    else:
        args = cli("run", str(CONFIG), "-q", *sum((["--set", o] for o in [*overrides, f"output.dir={run_dir}"]), []))
    return subprocess.Popen(args, stdout=log, stderr=log, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def killed_run(run_dir: Path, overrides: list[str], kills: int, delays: tuple[float, float], rng: random.Random,
               log, probe=None) -> list[dict]:
    """Kill the run ``kills`` times at random moments, then let it finish; returns what each kill hit."""
    events = []
    for _ in range(kills):
        p = start(run_dir, overrides, log)
        delay = rng.uniform(*delays)
        try:
            p.wait(timeout=delay)
            events.append({"delay_s": round(delay, 2), "finished_first": True})
            break
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
        ev = {"delay_s": round(delay, 2)}
        ev.update(probe() if probe else {})
        events.append(ev)
    if not (run_dir / "metrics.json").exists():
        p = start(run_dir, overrides, log)
        if p.wait() != 0:
            raise SystemExit(f"the final resume of {run_dir} failed; see the log")
    return events


def reference(run_dir: Path, overrides: list[str], log) -> None:
    if not (run_dir / "metrics.json").exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        if start(run_dir, overrides, log).wait() != 0:
            raise SystemExit(f"the reference run {run_dir} failed; see the log")


def weights_digest(run_dir: Path) -> str:
    return hashlib.sha256((run_dir / "student.safetensors").read_bytes()).hexdigest()[:16]


def training_check(work: Path, kills: int, rng: random.Random, log) -> dict:
    ref, cut = work / "train_reference", work / "train_killed"
    shutil.rmtree(cut, ignore_errors=True)
    cache = [f"teacher.cache={work / 'train_cache'}"]
    reference(ref, [*TRAIN_SET, *cache], log)

    def probe() -> dict:
        ck = cut / "checkpoints" / "last.ckpt"
        done = epochs_logged(cut)
        saved = epochs_in_checkpoint(ck)
        # a kill may cost the epoch in progress; an epoch it had completed and not checkpointed is redone work
        return {"checkpoint": ck.is_file(), "config": (cut / "config.yaml").is_file(), "epochs_completed": done,
                "epochs_in_checkpoint": saved, "completed_epochs_redone": max(0, done - saved)}

    events = killed_run(cut, [*TRAIN_SET, *cache], kills, (8.0, 30.0), rng, log, probe)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (ref, cut))
    hist = [[{k: v for k, v in h.items() if k not in STRIP} for h in m["history"]] for m in (a, b)]
    csv_equal = csv_rows(ref) == csv_rows(cut)
    redone = max((e.get("completed_epochs_redone", 0) for e in events), default=0)
    return {"kills": events, "reference_accuracy": a["student"]["accuracy"],
            "resumed_accuracy": b["student"]["accuracy"],
            "history_equal": hist[0] == hist[1], "weights_equal": weights_digest(ref) == weights_digest(cut),
            "metrics_csv_equal": csv_equal, "max_completed_epochs_redone": redone,
            "identical": a["student"]["accuracy"] == b["student"]["accuracy"] and hist[0] == hist[1]
            and weights_digest(ref) == weights_digest(cut) and csv_equal and redone <= 1}


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    """logs/metrics.csv as rows (every logged step and epoch), for comparing a resumed run's whole log."""
    import csv

    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def epochs_logged(run_dir: Path) -> int:
    """How many epochs the run had completed (validated and logged) when it was killed."""
    import csv

    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        return len({r["epoch"] for r in csv.DictReader(f) if r.get("val/acc") and r.get("epoch")})


def epochs_in_checkpoint(ckpt: Path) -> int:
    if not ckpt.is_file():
        return 0
    import torch

    try:
        return int(torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]) + 1
    except Exception:  # killed while the checkpoint was renamed into place: the resume starts over
        return 0


def arrays_digest(cache_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(cache_dir.glob("*.npy"))}


def cache_check(work: Path, kills: int, rng: random.Random, log) -> dict:
    ref_cache, cut_cache = work / "cache_reference", work / "cache_killed"
    shutil.rmtree(cut_cache, ignore_errors=True)
    shutil.rmtree(work / "cache_run_killed", ignore_errors=True)
    if not (ref_cache / "manifest.json").exists() or not json.loads((ref_cache / "manifest.json").read_text()).get(
            "complete"):
        shutil.rmtree(ref_cache, ignore_errors=True)
        shutil.rmtree(work / "cache_run_reference", ignore_errors=True)
    reference(work / "cache_run_reference", [*CACHE_SET, f"teacher.cache={ref_cache}"], log)

    def probe() -> dict:
        m = cut_cache / "manifest.json"
        manifest = json.loads(m.read_text()) if m.is_file() else {}
        return {"chunks_done": len(manifest.get("done", [])), "build_complete": bool(manifest.get("complete"))}

    events = killed_run(work / "cache_run_killed", [*CACHE_SET, f"teacher.cache={cut_cache}"], kills, (20.0, 40.0),
                        rng, log, probe)
    status = json.loads((work / "cache_run_killed" / "metrics.json").read_text())["teacher"]["cache"]["status"]
    ref, cut = arrays_digest(ref_cache), arrays_digest(cut_cache)
    inside = sum(1 for e in events if "chunks_done" in e and not e.get("build_complete"))
    return {"kills": events, "kills_inside_the_build": inside, "final_status": status, "arrays": cut,
            "identical": ref == cut and bool(ref)}


PARTS = {
    "training": (training_check, lambda r: (
        f"training: {len(r['kills'])} kills at {[k['delay_s'] for k in r['kills']]} s; accuracy reference "
        f"{r['reference_accuracy']:.4f}, killed+resumed {r['resumed_accuracy']:.4f}; history equal "
        f"{r['history_equal']}, weights equal {r['weights_equal']}, metrics.csv equal {r['metrics_csv_equal']}; "
        f"completed epochs redone after a kill: at most {r['max_completed_epochs_redone']}")),
    "cache": (cache_check, lambda r: (
        f"cache build: {len(r['kills'])} kills ({r['kills_inside_the_build']} inside the build), chunks done after "
        f"each {[k.get('chunks_done') for k in r['kills']]}; "
        f"final status {r['final_status']}; arrays identical to an uninterrupted build: {r['identical']}")),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="of the random kill moments")
    ap.add_argument("--work", default=str(ROOT / "runs" / "kill_resume"))
    ap.add_argument("--parts", nargs="*", default=list(PARTS), choices=list(PARTS))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    path = ROOT / "benchmarks" / "results" / "kill_resume.json"
    out: dict = json.loads(path.read_text()) if path.exists() else {}  # parts run separately are merged
    t0 = time.perf_counter()
    with open(work / "log.txt", "a") as log:
        for part in args.parts:
            check, summary = PARTS[part]
            out[part] = check(work, args.kills, rng, log)
            print(summary(out[part]), flush=True)
    out[f"wall_s_{'_'.join(args.parts)}"] = round(time.perf_counter() - t0, 1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    out["written_by"] = {"command": "python benchmarks/kill_resume.py " + " ".join(sys.argv[1:]),
                         "commit": commit.stdout.strip(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    if not all(out[p]["identical"] for p in args.parts):
        sys.exit(1)


if __name__ == "__main__":
    main()
