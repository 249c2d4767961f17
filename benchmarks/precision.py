"""Issue-25 figures behind ``train.precision: auto``: the student's training epoch and test accuracy in fp32 and
under bf16 autocast, side by side in one process, for the text CNN (Banking77) and ResNet-20 (CIFAR-10).

The teacher cache is built once per task and shared by both precisions (the teacher's own precision is
``teacher.precision``, unchanged), so the arms differ only in the student's precision. Writes
benchmarks/results/precision.json.

    python benchmarks/precision.py                       # Banking77 3 epochs, CIFAR-10 2 epochs
    python benchmarks/precision.py --tasks banking77 --epochs 1
    python benchmarks/precision.py --matmul              # this machine's bf16 and fp32 matmul speed, and the choice

``--matmul`` adds this machine's entry under ``matmul`` (kept per machine, the tasks left as they are): the
2048x2048 matmul FLOP/s in each dtype (:func:`distillery.compute.peak.measure_peak_flops`, the measurement
``auto`` decides on), the CPU's bf16 instructions, and what ``train.precision: auto`` resolves to here.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from distillery.api import run
from distillery.config import load_config

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "banking77": (ROOT / "configs" / "banking77_minilm_to_textcnn.yaml", 3, []),
    "cifar10": (ROOT / "configs" / "cifar10_resnet56_to_resnet20.yaml", 2, []),
}


def matmul(out_path: Path) -> None:
    from distillery.compute.peak import BF16_MIN_SPEEDUP, bf16_supported, device_name, measure_peak_flops

    cpu = torch.device("cpu")
    fp32, bf16 = (measure_peak_flops(cpu, dt, seconds=2.0) for dt in (torch.float32, torch.bfloat16))
    entry = {"fp32_gflops": round(fp32 / 1e9, 1), "bf16_gflops": round(bf16 / 1e9, 1),
             "bf16_over_fp32": round(bf16 / fp32, 3), "min_speedup": BF16_MIN_SPEEDUP,
             "avx512_bf16": bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()),
             "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
             "auto_chooses_bf16": bf16_supported(cpu), "torch": torch.__version__}
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    results.setdefault("matmul", {})[device_name(cpu)] = entry
    out_path.write_text(json.dumps(results, indent=1))
    print(json.dumps(entry))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "precision.json")
    ap.add_argument("--matmul", action="store_true", help="measure the matmul speeds behind auto, then exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.matmul:
        matmul(args.out)
        return
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                       "torch": torch.__version__}, "tasks": {}}
    for task in args.tasks:
        cfg_path, epochs, extra = TASKS[task]
        epochs = args.epochs or epochs
        rows = {}
        with tempfile.TemporaryDirectory(prefix=f"prec_{task}_") as tmp:
            # fp32 first (it builds the teacher cache, outside its timed epochs), then bf16 on the same cache
            for precision in ("32-true", "bf16-mixed"):
                cfg = load_config(cfg_path, [*extra, f"train.epochs={epochs}", f"train.precision={precision}",
                                             f"output.dir={tmp}/{precision}", "train.progress=false",
                                             f"teacher.cache_dir={tmp}/cache", f"train.num_threads={args.threads}"])
                m = run(cfg, quiet=True)
                ep = [h["train_epoch_s"] for h in m["history"]]
                rows[precision] = {"accuracy": m["student"]["accuracy"], "epoch_s": ep,
                                   "steady_epoch_s": sorted(ep[1:] or ep)[len(ep[1:] or ep) // 2]}
                print(f"{task} {precision}: epochs {ep}, test accuracy {100 * m['student']['accuracy']:.2f} %",
                      flush=True)
        rows["speedup_bf16"] = round(rows["32-true"]["steady_epoch_s"] / rows["bf16-mixed"]["steady_epoch_s"], 3)
        out["tasks"][task] = {"epochs": epochs, **rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
        print(f"{task}: bf16 epoch speed-up x{rows['speedup_bf16']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
