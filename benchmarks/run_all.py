"""The real-data benchmark suite: every headline comparison with 3 seeds (mean ± std), regenerated from scratch.

Suites (each one `distillery compare` of a ready config per row, seeds 0, 1, 2):

- Banking77, full training split: scratch vs au (Farhat & Chen 2024);
- Banking77, 10 examples per class: scratch, au, and au with the other training texts as unlabelled transfer set;
- CIFAR-10 (JPEG copy), full training split: scratch vs au;
- CIFAR-10 with 10 % of the labels: scratch vs au;
- the masked-LM budget study (Bui et al. 2024): scratch, tinybert, minilm at equal FLOPs, then GLUE dev;
- the cost of distillation over the student alone, live and from the teacher-output cache (one seed: a timing).

The full run writes its tables, plot and commands between the ``run_all`` markers of docs/benchmarks.md (the
per-issue analyses below them are kept); ``--quick`` runs a smaller version of every suite (subsets, fewer epochs,
a smaller FLOPs budget; under 45 minutes on 2 CPU cores) and writes docs/benchmarks_quick.md. Finished runs are
reused, so an interrupted suite resumes where it stopped. Real data comes from ``--data`` (a folder laid out like
../shared/data) or, with ``--hub``, Banking77, CIFAR-10 and GLUE from the Hugging Face Hub.

    python benchmarks/run_all.py --quick                 # < 45 min on 2 cores
    python benchmarks/run_all.py                         # hours; resumable
    python benchmarks/run_all.py --only banking77_10shot --seeds 1
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
B77 = "configs/banking77_minilm_to_textcnn.yaml"
C10 = "configs/cifar10_resnet56_to_resnet20.yaml"
MLM = "configs/mlm_budget.yaml"
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"
README_BEGIN, README_END = "<!-- run_all:excerpt:begin -->", "<!-- run_all:excerpt:end -->"


@dataclass
class Row:
    """One line of a suite's table: a method preset (``arm``) plus the overrides that make this row."""

    label: str
    arm: str
    overrides: list[str] = field(default_factory=list)
    profiles: tuple[str, ...] = ("full", "quick")  # the profiles that run this row


@dataclass
class Suite:
    """A comparison: one config, shared overrides (full / quick), its rows, optionally a FLOPs budget per run."""

    name: str
    title: str
    config: str
    full: list[str]
    quick: list[str]
    rows: list[Row]
    budget: tuple[str | None, str | None] = (None, None)  # (full, quick)
    note: str = ""
    pair: str = ""  # teacher -> student, for the README's excerpt


SUITES = [
    Suite("banking77_full", "Banking77, full training split", B77,
          full=["train.epochs=20", "data.seed=0"], quick=["train.epochs=5", "data.seed=0", "data.max_samples=4000"],
          rows=[Row("scratch", "scratch"), Row("au", "au")],
          note="Teacher: all-MiniLM-L6-v2 + linear probe; student: text CNN (4.16 M parameters). One validation "
               "split (data.seed=0) for every seed, so the seeds share the teacher's probe and output cache. Quick: 5 "
               "epochs on a random 4,000 of the training texts.", pair="MiniLM → text CNN 4.2 M"),
    Suite("banking77_10shot", "Banking77, 10 examples per class", B77,
          full=["data.shots_per_class=10", "train.epochs=60", "data.seed=0"],
          quick=["data.shots_per_class=10", "train.epochs=20", "data.seed=0"],
          rows=[Row("scratch", "scratch"), Row("au", "au"),
                # the other training texts, unlabelled; 20 (quick: 4) epochs over 9,503 texts instead of 60 over 770
                Row("au + transfer set (the other 8,733 texts)", "au", ["data.transfer=rest", "train.epochs=@"])],
          note="Teacher: MiniLM + 10-shot linear probe. The transfer-set row trains 20 epochs (quick: 4) over all "
               "9,503 training texts, cross-entropy on the 770 labelled ones. One 10-shot subset (data.seed=0) for "
               "every seed: the seeds vary the student's training, not which examples are labelled.",
          pair="MiniLM → text CNN 4.2 M"),
    Suite("cifar10_full", "CIFAR-10 (JPEG copy), full training split", C10,
          full=["train.epochs=10"], quick=["train.epochs=3", "data.max_samples=8000"],
          rows=[Row("scratch", "scratch"), Row("au", "au")],
          note="Teacher: ResNet-56 (akamaster weights); student: ResNet-20 (0.27 M); augmentation on. Quick: a "
               "random 8,000 images of each split.", pair="ResNet-56 → ResNet-20 0.27 M"),
    Suite("cifar10_10pct", "CIFAR-10 with 10 % of the labels (500 per class)", C10,
          full=["data.shots_per_class=500", "train.epochs=10"],
          quick=["data.shots_per_class=100", "train.epochs=20", "data.max_samples=2000"],
          rows=[Row("scratch", "scratch"), Row("au", "au"),
                Row("au + transfer set (the unlabelled rest)", "au", ["data.transfer=rest"], profiles=("full",))],
          note="The transfer-set row (full run only) trains the same 10 epochs over all 47,500 training images: "
               "the teacher's outputs on the 42,500 unlabelled ones, cross-entropy on the 5,000 labelled ones. "
               "Quick: 100 labelled images per class out of a random 2,000, 20 epochs, tested on a random 2,000.",
          pair="ResNet-56 → ResNet-20 0.27 M"),
    Suite("mlm_budget", "Masked-LM pre-training at equal FLOPs, then GLUE dev", MLM,
          full=[], quick=["glue.max_train=200", "glue.lrs=[0.0005]", "glue.epochs=2"],
          budget=("flops=2e13", "flops=1e12"),
          rows=[Row("scratch (MLM only)", "scratch"), Row("tinybert", "tinybert"), Row("minilm", "minilm")],
          note="Student: 4-layer, 192-wide BERT; teacher: all-MiniLM-L6-v2 (its forward passes count in the "
               "budget). Score: GLUE dev average (SST-2 acc., CoLA MCC, MRPC F1, RTE acc., STS-B Pearson). A "
               "small budget: 2e13 FLOPs is 5 to 9 minutes of one CPU core per run (Bui et al. 2024 give a run 4 to "
               "24 GPU-hours), so every arm is near chance on CoLA (MCC 0) and MRPC (F1 81.2 is the all-positive "
               "answer) and the average moves with SST-2 and STS-B. Quick: 1e12 FLOPs; GLUE fine-tuning on 200 "
               "examples per task, one learning rate, 2 epochs.",
          pair="MiniLM → BERT 4 × 192"),
]
TRANSFER_EPOCHS = {"full": 20, "quick": 4}


def data_overrides(suite: Suite, data: Path, hub: bool) -> list[str]:
    """Point a suite's config at the real data: a local folder laid out like ../shared/data, or the Hub."""
    if suite.config == B77:
        return (["data.source=PolyAI/banking77", "data.label_column=label"] if hub
                else [f"data.source={data / 'banking77'}"])
    if suite.config == C10:
        src = "uoft-cs/cifar10" if hub else str(data / "cifar10_jpeg" / "cifar10_jpeg.npz")
        return [f"data.source={src}", f"teacher.weights={data / 'cifar10_resnet_akamaster' / 'resnet56-4bfd9763.th'}"]
    return [f"data.source={data / 'text_corpus'}", f"glue.source={'nyu-mll/glue' if hub else data / 'glue'}"]


def suite_overrides(suite: Suite, row: Row, profile: str) -> list[str]:
    """The suite's overrides for ``profile``, then the row's; a key the row sets is dropped from the suite's."""
    base = suite.quick if profile == "quick" else suite.full
    own = [o.replace("@", str(TRANSFER_EPOCHS[profile])) for o in row.overrides]
    keys = {o.split("=", 1)[0] for o in own}
    return [*(o for o in base if o.split("=", 1)[0] not in keys), *own]


def row_dir(root: Path, suite: Suite, row: Row) -> Path:
    return root / suite.name / re.sub(r"[^a-z0-9]+", "_", row.label.lower()).strip("_")


def score(metrics: dict) -> dict:
    """The figures of one run that the tables report (percentages for accuracies and GLUE)."""
    s, t = metrics["student"], metrics["train"]
    out = {"train_s": t.get("train_time_s", t.get("wall_time_s"))}
    if "accuracy" in s:
        out["accuracy"] = 100 * s["accuracy"]
        if (metrics.get("teacher") or {}).get("accuracy") is not None:  # scratch runs have no teacher
            out["teacher"] = 100 * metrics["teacher"]["accuracy"]
    if "val_ce" in s:
        out["val_ce"] = s["val_ce"]
        out["tokens"] = t.get("tokens_seen")
        glue = metrics.get("glue") or {}
        if glue:
            out["glue_avg"] = 100 * statistics.mean(r["score"] for r in glue.values())
            out.update({f"glue_{k}": 100 * r["score"] for k, r in glue.items()})
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


def run_suite(suite: Suite, root: Path, profile: str, seeds: int, data: Path, hub: bool) -> dict:
    """Run (or read back) every row of ``suite`` for ``seeds`` seeds; return the per-seed figures."""
    from distillery.report.compare import compare

    rows = {}
    for row in (r for r in suite.rows if profile in r.profiles):
        out = row_dir(root, suite, row)
        over = [*data_overrides(suite, data, hub), *suite_overrides(suite, row, profile), "train.progress=false"]
        budget = suite.budget[profile == "quick"]
        t0 = time.perf_counter()
        compare(str(ROOT / suite.config), [row.arm], seeds=seeds, budget=budget, out=str(out), overrides=over,
                quiet=True)
        runs = [json.loads((out / f"{row.arm}_s{i}" / "metrics.json").read_text()) for i in range(seeds)]
        rel = [o for o in over if not o.startswith(("data.source=", "teacher.weights=", "glue.source="))]
        rows[row.label] = {
            "arm": row.arm, "runs": [score(m) for m in runs], "wall_s": round(time.perf_counter() - t0, 1),
            "command": f"distillery compare {suite.config} --arms {row.arm} --seeds {seeds}"
                       + (f" --budget {budget}" if budget else "") + "".join(f" --set {o}" for o in rel)}
        r = rows[row.label]["runs"]
        key = "accuracy" if "accuracy" in r[0] else "glue_avg"
        print(f"  {suite.name:18s} {row.label:45s} {key} {fmt([x[key] for x in r if key in x])}", flush=True)
    return rows


def run_overhead(root: Path, profile: str) -> dict:
    """The cost table of benchmarks/overhead.py (student alone / live teacher / cache), one seed."""
    from overhead import overhead

    quick = {"cifar10": ["data.max_samples=5000"], "banking77": ["data.max_samples=1500"]}
    extra = quick if profile == "quick" else {}
    return {task: overhead(task, 1 if profile == "quick" else 2, root / "overhead", extra.get(task, []))
            for task in ("banking77", "cifar10")}


def commits(results: dict) -> dict[str, str]:
    """The commit each section was run at (results files of older versions name one commit for all)."""
    if "commits" in results:
        return dict(results["commits"])
    names = [*results.get("suites", {}), *(["overhead"] if results.get("overhead") else [])]
    return {name: results["commit"] for name in names}


def merge_results(old: dict | None, ran: dict) -> dict:
    """``ran`` (this invocation's sections) over ``old`` (the results file of earlier ``--only`` invocations, which
    may have run in parallel or in earlier sessions); times add up, the invocations are counted and each section
    keeps the commit it was run at."""
    if not old or old.get("profile") != ran["profile"] or old.get("seeds") != ran["seeds"]:
        return {**ran, "suites": dict(ran["suites"]), "overhead": ran.get("overhead"), "commits": commits(ran),
                "invocations": 1}
    merged = {**old, **{k: v for k, v in ran.items() if k not in ("suites", "overhead")}}
    merged["commits"] = {**commits(old), **commits(ran)}
    merged["suites"] = {**old.get("suites", {}), **ran["suites"]}
    merged["overhead"] = ran["overhead"] if ran.get("overhead") is not None else old.get("overhead")
    merged["wall_s"] = old.get("wall_s", 0.0) + ran["wall_s"]
    merged["invocations"] = old.get("invocations", 1) + 1
    return merged


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import transformers

    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def commit_text(results: dict) -> str:
    """"commit X", or, for a suite whose sections were run at different commits, which sections ran at which."""
    by: dict[str, list[str]] = {}
    for name, c in commits(results).items():
        by.setdefault(c, []).append(name)
    if len(by) <= 1:
        return f"commit {results['commit']}"
    return "commits " + "; ".join(f"{c} ({', '.join(names)})" for c, names in by.items())


def when(results: dict) -> str:
    """How long the suite took: one invocation's wall time, or the sum over ``--only`` invocations."""
    n = results.get("invocations", 1)
    if n == 1:
        return f"in {results['wall_s'] / 60:.0f} minutes"
    return (f"in {n} `--only` invocations (some in parallel, resumed across sessions; interrupted attempts not "
            f"counted) that took {results['wall_s'] / 60:.0f} minutes together")


def render(results: dict) -> str:
    """The Markdown of the suite: one table per suite (mean ± std over seeds), the commands, the machine."""
    m, profile = results["machine"], results["profile"]
    lines = [f"## The benchmark suite ({'quick' if profile == 'quick' else 'full'} run)", "",
             f"Generated by `python benchmarks/run_all.py{' --quick' if profile == 'quick' else ''}` on "
             f"{results['date']}, {commit_text(results)}, {when(results)}. Machine: "
             f"{m['cpu']}, {m['cores']} cores ({m['threads']} torch threads), GPU: {m['gpu'] or 'none'}; torch "
             f"{m['torch']}, transformers {m['transformers']}, Python {m['python']}. {results['seeds']} seeds "
             "(train.seed 0, 1, ...); mean ± sample standard deviation; accuracies on each dataset's test split "
             "(the checkpoint with the best validation accuracy).", "", "![the suite](img/" + results["plot"] + ")",
             ""]
    for suite in SUITES:
        rows = results["suites"].get(suite.name)
        if not rows:
            continue
        lines += [f"### {suite.title}", "", suite.note, ""]
        first = next(iter(rows.values()))["runs"][0]
        if "accuracy" in first:
            lines += ["| arm | student test accuracy (%) | teacher (%) | train time per run (s) |",
                      "|---|---:|---:|---:|"]
            for label, r in rows.items():
                runs = r["runs"]
                lines.append(f"| {label} | {fmt([x['accuracy'] for x in runs])} | "
                             f"{fmt([x['teacher'] for x in runs if 'teacher' in x])} | "
                             f"{fmt([x['train_s'] for x in runs], 0)} |")
        else:
            tasks = [k[5:] for k in first if k.startswith("glue_") and k != "glue_avg"]
            lines += ["| arm | MLM val. CE | tokens seen | " + " | ".join(tasks) + " | GLUE avg |",
                      "|---|---:|---:|" + "---:|" * (len(tasks) + 1)]
            for label, r in rows.items():
                runs = r["runs"]
                lines.append(f"| {label} | {fmt([x['val_ce'] for x in runs], 3)} | "
                             f"{fmt([x['tokens'] for x in runs], 0)} | "
                             + " | ".join(fmt([x[f'glue_{t}'] for x in runs], 1) for t in tasks)
                             + f" | {fmt([x['glue_avg'] for x in runs], 1)} |")
        lines += ["", "```bash", *(r["command"] for r in rows.values()), "```", ""]
    if results.get("overhead"):
        lines += ["### What distillation costs over the student alone (one seed, a timing)", "",
                  "| task | train size | student s/epoch | live teacher s/epoch | cached s/epoch | cache build (s) | "
                  "cached / student |", "|---|---:|---:|---:|---:|---:|---:|"]
        for task, o in results["overhead"].items():
            lines.append(f"| {task} | {o['train_size']:,} | {o['student_epoch_s']:.1f} | {o['live_epoch_s']:.1f} | "
                         f"{o['cached_epoch_s']:.1f} | {o['cache_build_s']:.1f} | "
                         f"{o['ratios']['cached_over_student']:.2f} |")
        lines += ["", "`python benchmarks/overhead.py` measures the same table with more epochs.", ""]
    return "\n".join(lines)


def _cell(runs: list[dict], key: str, unit: str, best: float | None) -> str:
    """``mean ± std`` of ``key`` over ``runs``, in bold when its mean is ``best``."""
    text = f"{fmt([x[key] for x in runs])}{unit}"
    return f"**{text}**" if statistics.mean(x[key] for x in runs) == best else text


def excerpt(results: dict) -> str:
    """The README's results table: one line per suite, the scratch row against every distilled row (mean ± std),
    the best of each line in bold."""
    lines = [f"{results['seeds']} seeds each (mean ± std), from the full suite of {results['date']} "
             f"({commit_text(results)}, 2-core CPU); every figure, command and caveat in "
             "[docs/benchmarks.md](docs/benchmarks.md):", "",
             "| task | from scratch | distilled | teacher |", "|---|---:|---:|---:|"]
    for suite in SUITES:
        rows = results["suites"].get(suite.name)
        if not rows:
            continue
        runs = {label: r["runs"] for label, r in rows.items()}
        key = "accuracy" if "accuracy" in next(iter(runs.values()))[0] else "glue_avg"
        unit = " %" if key == "accuracy" else " (GLUE avg)"
        base, *others = runs.items()
        teacher = [x["teacher"] for rs in runs.values() for x in rs if "teacher" in x]
        task = f"{suite.title} ({suite.pair})" if suite.pair else suite.title
        best = max(statistics.mean(x[key] for x in rs) for rs in runs.values()) if others else None
        distilled = "<br>".join(f"{label}: {_cell(rs, key, unit, best)}" for label, rs in others)
        lines.append(f"| {task} | {_cell(base[1], key, unit, best)} | {distilled} | "
                     f"{f'{statistics.mean(teacher):.2f} %' if teacher else '—'} |")
    return "\n".join(lines)


def replace_block(path: Path, block: str, begin: str = BEGIN, end: str = END) -> None:
    """Put ``block`` between the ``begin``/``end`` markers of ``path`` (before its first ``## `` section if none)."""
    doc = path.read_text()
    block = f"{begin}\n{block}\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        head, sep, rest = doc.partition("\n## ")
        doc = head + "\n" + block + "\n" + sep + rest if sep else doc + "\n" + block + "\n"
    path.write_text(doc)


def plot(results: dict, dest: Path) -> None:
    """One panel per suite: the mean score of each row with its standard deviation over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = [s for s in SUITES if results["suites"].get(s.name)]
    fig, axes = plt.subplots(1, len(suites), figsize=(3.6 * len(suites), 3.6), squeeze=False)
    for ax, suite in zip(axes[0], suites, strict=True):
        rows = results["suites"][suite.name]
        key = "accuracy" if "accuracy" in next(iter(rows.values()))["runs"][0] else "glue_avg"
        stats = [mean_std([x[key] for x in r["runs"]]) for r in rows.values()]
        ax.bar(range(len(stats)), [m for m, _ in stats], yerr=[s for _, s in stats], capsize=4,
               color=["#999999"] + ["#2b6cb0"] * (len(stats) - 1))
        ax.set_xticks(range(len(stats)), [label.split(" (")[0] for label in rows], rotation=20, ha="right",
                      fontsize=8)
        teacher = [x["teacher"] for r in rows.values() for x in r["runs"] if "teacher" in x]
        top = max(m + s for m, s in stats)
        if teacher:  # the teacher's accuracy caps what distillation can add
            top = max(top, statistics.mean(teacher))
            ax.axhline(statistics.mean(teacher), color="#c05621", ls="--", lw=1, label="teacher")
            ax.legend(fontsize=7, loc="lower right")
        lo = min(m - s for m, s in stats)
        ax.set_ylim(max(0.0, lo - 5), top + 2)
        ax.set_title(suite.title if len(suite.title) < 40 else suite.name, fontsize=9)
        ax.set_ylabel("test accuracy (%)" if key == "accuracy" else "GLUE dev average")
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110)
    plt.close(fig)


def write_docs(results: dict, quick: bool) -> Path:
    """Quick: docs/benchmarks_quick.md as a whole. Full: the run_all section of docs/benchmarks.md and the README's
    results excerpt (between its ``run_all:excerpt`` markers)."""
    text = render(results)
    if quick:
        dest = ROOT / "docs" / "benchmarks_quick.md"
        dest.write_text("# Benchmarks, quick version\n\nA smaller version of every suite of docs/benchmarks.md, to "
                        "check that the figures reproduce (subsets, fewer epochs; not the headline numbers).\n\n"
                        + text.replace("](img/", "](img/") + "\n")
        return dest
    dest = ROOT / "docs" / "benchmarks.md"
    replace_block(dest, text)
    readme = ROOT / "README.md"
    if readme.is_file() and README_BEGIN in readme.read_text():  # the README's excerpt, where it has the markers
        replace_block(readme, excerpt(results), README_BEGIN, README_END)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smaller version (< 45 min on 2 CPU cores)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None, choices=[s.name for s in SUITES] + ["overhead"])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="folder with banking77/, cifar10_jpeg/, cifar10_resnet_akamaster/, glue/, text_corpus/")
    ap.add_argument("--hub", action="store_true", help="Banking77, CIFAR-10 and GLUE from the Hugging Face Hub")
    ap.add_argument("--runs", default=None, help="where run directories go (default runs/run_all[_quick])")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--render-only", action="store_true", help="rewrite the docs and plot from the results JSON")
    args = ap.parse_args()
    profile = "quick" if args.quick else "full"
    stem = "run_all_quick" if args.quick else "run_all"
    res_path = ROOT / "benchmarks" / "results" / f"{stem}.json"
    if args.render_only:
        results = json.loads(res_path.read_text())
    else:
        torch.set_num_threads(args.threads)
        root = Path(args.runs or ROOT / "runs" / stem).resolve()
        data = Path(args.data).resolve()
        t0 = time.perf_counter()
        ran = {"profile": profile, "seeds": args.seeds, "suites": {}}
        for suite in SUITES:
            if args.only is None or suite.name in args.only:
                print(f"{suite.name} ...", flush=True)
                ran["suites"][suite.name] = run_suite(suite, root, profile, args.seeds, data, args.hub)
        if args.only is None or "overhead" in args.only:
            print("overhead ...", flush=True)
            ran["overhead"] = run_overhead(root, profile)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        ran.update(wall_s=time.perf_counter() - t0, commit=commit, date=datetime.date.today().isoformat(),
                   machine=machine(), plot=f"{stem}.png")
        # read back just before writing: another --only invocation may have finished meanwhile
        old = json.loads(res_path.read_text()) if res_path.is_file() and args.only else None
        results = merge_results(old, ran)
        res_path.parent.mkdir(parents=True, exist_ok=True)
        res_path.write_text(json.dumps(results, indent=2))
    plot(results, ROOT / "docs" / "img" / results["plot"])
    dest = write_docs(results, args.quick)
    print(f"wrote {res_path.relative_to(ROOT)}, {dest.relative_to(ROOT)} ({results['wall_s'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
