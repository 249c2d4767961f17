"""Latency of deployed students against their teachers: p50/p95 per batch and throughput at batch 1 and 32, for
PyTorch eager (fp32), PyTorch bf16 autocast, ONNX Runtime fp32 and ONNX Runtime int8, on this CPU, with the int8
accuracy change on the real test split (issue: deployable students).

Students: a finished run directory of each task (exported here with `distillery export --quantize int8`, which
checks parity and measures the test accuracy of both models). Teachers: the same network the runs distil from,
measured the same way (the task head's values do not change the cost; its accuracy is the run's
metrics.json["teacher"]).

    python benchmarks/latency.py --run banking77=RUN_DIR --run cifar10=RUN_DIR [--threads 2]

Writes benchmarks/results/latency.json, the table in docs/benchmarks.md (between its latency markers) and
docs/img/latency.png.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "latency.json"
DOC, BEGIN, END = ROOT / "docs" / "benchmarks.md", "<!-- latency:begin -->", "<!-- latency:end -->"
MODES = ("torch_fp32", "torch_bf16", "ort_fp32", "ort_int8")


def timed(fn, batches: list, repeats: int) -> dict[str, float]:
    """p50 / p95 milliseconds per call over ``repeats`` calls (after 3 warm-up calls), cycling through batches."""
    for i in range(3):
        fn(batches[i % len(batches)])
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(batches[i % len(batches)])
        times.append(1000 * (time.perf_counter() - t0))
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "calls": repeats}


def measure(net, onnx_fp32: Path, onnx_int8: Path, inputs: dict[str, np.ndarray], threads: int) -> dict:
    import onnxruntime as ort

    out: dict[str, dict] = {}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
    sessions = {m: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
                for m, p in (("ort_fp32", onnx_fp32), ("ort_int8", onnx_int8))}
    n = len(next(iter(inputs.values())))
    for bs in (1, 32):
        batches = [{k: v[i:i + bs] for k, v in inputs.items()} for i in range(0, min(n, 8 * bs), bs)]
        batches = [b for b in batches if len(next(iter(b.values()))) == bs]
        tb = [{k: torch.from_numpy(v) for k, v in b.items()} for b in batches]
        repeats = 60 if bs == 1 else 20

        def torch_run(b, bf16=False):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                net(b)

        row = {"torch_fp32": timed(lambda b: torch_run(b), tb, repeats),
               "torch_bf16": timed(lambda b: torch_run(b, True), tb, repeats)}
        for m, s in sessions.items():
            row[m] = timed(lambda b, s=s: s.run(["logits"], b), batches, repeats)
        for r in row.values():
            r["per_second"] = bs / (r["p50_ms"] / 1000)
        out[f"batch_{bs}"] = row
    return out


def text_inputs(tok, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """Real test texts, padded to the longest in each measured batch size (the 32 first: one shape)."""
    enc = tok(texts, truncation=True, max_length=max_length, padding="max_length", return_tensors="np")
    lengths = enc["attention_mask"].sum(1)
    width = int(np.percentile(lengths, 95))  # a typical batch's padded width, not the worst case
    return {"input_ids": enc["input_ids"][:, :width].astype(np.int64),
            "attention_mask": enc["attention_mask"][:, :width].astype(np.int64)}


def task(name: str, run_dir: Path, threads: int, work: Path) -> dict:
    from distillery.config import build_config
    from distillery.data import load_task_data
    from distillery.export import export_run
    from distillery.export.onnx import calibration_batches, export_network, quantize_model
    from distillery.models import count_params, create_model
    from distillery.rundir import read_run_config
    from distillery.students import load_student

    metrics = json.loads((run_dir / "metrics.json").read_text())
    cfg = build_config(read_run_config(run_dir))
    data = load_task_data(cfg.data, seed=cfg.train.seed)
    info = export_run(run_dir, work / f"{name}_student", quantize="int8", quiet=True)
    student, meta, tok = load_student(run_dir)
    text = meta["modality"] == "text"
    if text:
        inputs = text_inputs(tok, list(data.test.inputs[:256]), meta["max_length"])
    else:
        inputs = {"pixel_values": data.test.inputs[:256].numpy().astype(np.uint8)}
    s_dir = work / f"{name}_student"
    result = {"run": str(run_dir), "student": meta["model"], "student_params": count_params(student),
              "student_accuracy_torch": metrics["student"]["accuracy"], "export": info,
              "student_latency": measure(student, s_dir / "model.onnx", s_dir / "model.int8.onnx", inputs, threads)}
    assert cfg.teacher is not None
    teacher = create_model(cfg.teacher.model, len(data.class_names), pretrained=True, weights=cfg.teacher.weights,
                           **cfg.teacher.kwargs).eval()
    t_dir = work / f"{name}_teacher"
    t_dir.mkdir()
    export_network(teacher, {k: v[:2] for k, v in inputs.items()}, t_dir / "model.onnx", text, cfg.teacher.model)
    calib = calibration_batches(s_dir, info, data.train)  # the student's encoding: the same tokenizer and inputs
    quantize_model(t_dir / "model.onnx", t_dir / "model.int8.onnx", teacher, calib)
    result.update({"teacher": cfg.teacher.model, "teacher_params": count_params(teacher),
                   "teacher_accuracy": (metrics.get("teacher") or {}).get("accuracy"),
                   "teacher_latency": measure(teacher, t_dir / "model.onnx", t_dir / "model.int8.onnx", inputs,
                                              threads),
                   "input_shape": {k: list(v.shape) for k, v in inputs.items()}})
    s, t = result["student_latency"], result["teacher_latency"]
    result["speedup"] = {f"{b}_{m}": t[b]["torch_fp32"]["p50_ms"] / s[b][m]["p50_ms"] for b in s for m in MODES}
    return result


def render(results: dict) -> str:
    m = results["machine"]
    lines = [f"Generated by `python benchmarks/latency.py` on {results['date']}, commit {results['commit']}. "
             f"Machine: {m['cpu']}, {m['threads']} threads for PyTorch and ONNX Runtime (intra-op), torch "
             f"{m['torch']}, onnxruntime {m['onnxruntime']}. p50 / p95 milliseconds per batch; speed-up: the "
             "teacher's PyTorch fp32 p50 over the student's.", "",
             "| task | model | params | test acc. | batch | PyTorch fp32 | PyTorch bf16 | ORT fp32 | ORT int8 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["tasks"].items():
        acc = r["export"]["accuracy"]
        for who in ("teacher", "student"):
            lat = r[f"{who}_latency"]
            a = (f"{100 * r['teacher_accuracy']:.2f} %" if who == "teacher" and r["teacher_accuracy"] is not None
                 else f"{100 * acc['fp32']:.2f} % (int8 {100 * acc['int8']:.2f} %)" if who == "student" else "—")
            for b in ("batch_1", "batch_32"):
                cells = " | ".join(f"{lat[b][k]['p50_ms']:.2f} / {lat[b][k]['p95_ms']:.2f}" for k in MODES)
                lines.append(f"| {name} | {who} `{r[who]}` | {r[f'{who}_params']:,} | {a} | {b[6:]} | {cells} |")
        sp = r["speedup"]
        lines.append(f"| {name} | speed-up of the student | | | 1 / 32 | "
                     + " | ".join(f"{sp['batch_1_' + k]:.1f}x / {sp['batch_32_' + k]:.1f}x" for k in MODES) + " |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    tasks = list(results["tasks"])
    fig = Figure(figsize=(6.4, 3.6))
    for i, name in enumerate(tasks):
        ax = fig.add_subplot(1, len(tasks), i + 1)
        r = results["tasks"][name]
        x = np.arange(len(MODES))
        for j, who in enumerate(("teacher", "student")):
            ax.bar(x + 0.4 * j, [r[f"{who}_latency"]["batch_32"][m]["p50_ms"] for m in MODES], 0.4, label=who)
        ax.set_xticks(x + 0.2, [m.replace("_", "\n") for m in MODES], fontsize=7)
        ax.set_yscale("log")
        ax.set_title(f"{name}, batch 32", fontsize=9)
        ax.set_ylabel("p50 ms per batch" if i == 0 else "")
        ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="TASK=RUN_DIR (a finished classification run)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import subprocess

    import onnxruntime

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="distillery-latency-"))
    try:
        tasks = {}
        for item in args.run:
            name, _, d = item.partition("=")
            tasks[name] = task(name, Path(d), args.threads, work)
            print(f"{name}: measured", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    results = {"date": time.strftime("%Y-%m-%d"), "commit": commit.stdout.strip(),
               "command": "python benchmarks/latency.py " + " ".join(f"--run {r}" for r in args.run)
               + f" --threads {args.threads}",
               "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                           "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
               "tasks": tasks}
    RESULTS.write_text(json.dumps(results, indent=1))
    table = render(results)
    doc = DOC.read_text()
    block = f"{BEGIN}\n{table}\n{END}"
    doc = (doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]) if BEGIN in doc else \
        doc + "\n## Deployed students: latency against the teacher (ONNX Runtime, int8)\n\n" + block + "\n"
    DOC.write_text(doc)
    plot(results, ROOT / "docs" / "img" / "latency.png")
    print(table)


if __name__ == "__main__":
    main()
