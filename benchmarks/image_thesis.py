"""Issue-27 study: the thesis on images, measured as Farhat & Chen 2024 measure it.

MobileNet v1 0.25 on CIFAR-10 (the JPEG copy; configs/cifar10_mobilenet_thesis.yaml: 32-pixel data and teacher, the
student resizing its input to 96 pixels), every arm with the same schedule, one validation split (data.seed=0):

- ``scratch``: random initialisation, cross-entropy on the same augmented views;
- ``finetune``: the Keras ImageNet weights (backbone; a new 10-class head), then the same training;
- ``kd`` and ``au``: random initialisation, distilled from the CIFAR ResNet-56 adapted to the JPEG images.

Compute. Distillation: the run's measured total FLOPs (teacher head + cache + student training). The pre-training
route: the fine-tuning run's measured FLOPs plus ImageNet pre-training, which is not run here but computed:
41 M multiply-adds per 224-pixel image (Howard et al. 2017, Table 6, "0.25 MobileNet-224"; this project's FLOP
counter gives 41.03 M for the port), 2 FLOPs per multiply-add and a backward pass of about twice the forward
(3x the forward in all), over the 1,281,167 ImageNet-1k training images for 120 epochs (the published recipe for
this very model: PaddlePaddle/models, PaddleCV/image_classification/scripts/train/MobileNetV1_x0_25.sh, batch 256,
piecewise lr 0.1). Writes benchmarks/results/image_thesis.json and docs/img/image_thesis.png.

    python benchmarks/image_thesis.py                                    # 3 seeds, every arm (GPU: minutes)
    python benchmarks/image_thesis.py --seeds 2 --set train.epochs=10    # what 2 CPU cores can do in a session
    python benchmarks/image_thesis.py --table
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from text_thesis import _commit, arm_summary, plot_accuracy_vs_flops, table

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "configs" / "cifar10_mobilenet_thesis.yaml"

MACS_PER_IMAGE_224 = 41e6  # Howard et al. 2017, Table 6: 0.25 MobileNet-224, 41 million mult-adds
IMAGENET_TRAIN_IMAGES = 1_281_167
IMAGENET_EPOCHS = 120  # PaddlePaddle/models MobileNetV1_x0_25.sh


def imagenet_pretraining_flops(macs: float = MACS_PER_IMAGE_224, images: int = IMAGENET_TRAIN_IMAGES,
                               epochs: int = IMAGENET_EPOCHS) -> dict:
    """The ImageNet pre-training route's compute, with its arithmetic: forward 2 FLOPs per multiply-add, training
    step 3x the forward (Kaplan et al. 2020's 6N per token, per image here)."""
    per_image = 3 * 2 * macs
    return {"macs_per_image": macs, "train_flops_per_image": per_image, "images": images, "epochs": epochs,
            "flops": per_image * images * epochs,
            "arithmetic": f"3 x 2 x {macs:.3g} MACs x {images:,} images x {epochs} epochs = "
                          f"{per_image * images * epochs:.3g} FLOPs",
            "sources": {"macs": "Howard et al. 2017 (MobileNets), Table 6: 0.25 MobileNet-224, 41 M mult-adds",
                        "epochs": "PaddlePaddle/models PaddleCV/image_classification/scripts/train/"
                                  "MobileNetV1_x0_25.sh: 120 epochs, batch 256, lr 0.1 piecewise"}}


def counted_macs_224() -> float:
    """Multiply-adds of one 224-pixel image through the ``mobilenet_v1`` port (1000 classes), as counted here."""
    from distillery.compute.flops import count_flops
    from distillery.models import create_model

    net = create_model("mobilenet_v1", 1000).eval()
    with torch.no_grad():
        flops, _ = count_flops(lambda: net({"pixel_values": torch.zeros(1, 3, 224, 224, dtype=torch.uint8)}))
    return flops / 2


def plot(results: dict, path: Path) -> None:
    arms = results["arms"]
    series = [("ImageNet pre-training + fine-tuning" if n == "finetune" else f"{n} (from random init)", m, [arms[n]])
              for n, m in (("finetune", "o"), ("kd", "s"), ("au", "D"), ("scratch", "^")) if n in arms]
    epochs = sorted({e for a in arms.values() for e in a.get("epochs", [])})
    key = "student.kwargs.input_size="
    size = next((o[len(key):] for o in results.get("overrides", []) if o.startswith(key)), None)
    setting = ", ".join([f"{results['seeds']} seeds", *(f"{e} epochs" for e in epochs),
                         *([f"student input {size} px"] if size else [])])
    plot_accuracy_vs_flops(series, "CIFAR-10 test accuracy (%)",
                           f"Distillation vs ImageNet pre-training, MobileNet v1 0.25 ({setting})", path)


def main() -> None:
    from distillery.report.compare import compare

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arms", nargs="+", default=["scratch", "finetune", "kd", "au"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="a config override for every arm, e.g. train.epochs=10 or train.accelerator=gpu")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "image_thesis")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "image_thesis.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "image_thesis.png")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    over = ["data.seed=0", "train.progress=false", f"train.num_threads={args.threads}",
            f"teacher.cache_dir={args.runs / 'teacher_cache'}", *args.overrides]
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if results and results.get("overrides") != over:
        raise SystemExit(f"{args.out} holds a study with other settings ({results.get('overrides')}); "
                         "give --out another file")
    results.setdefault("arms", {})
    route = imagenet_pretraining_flops()
    route["macs_per_image_counted"] = counted_macs_224()  # this project's FLOP counter on the port, as a check
    for arm in args.arms:  # the JSON after every arm: an interrupted study keeps what it measured
        compare(str(TASK), [arm], seeds=args.seeds, out=str(args.runs / arm), overrides=over, quiet=True)
        extra = route["flops"] if arm == "finetune" else 0.0
        results["arms"][arm] = arm_summary([args.runs / arm / f"{arm}_s{s}" for s in range(args.seeds)],
                                           extra_flops=extra)
        print(f"{arm}: {100 * results['arms'][arm]['mean']:.2f} %", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    arms = results["arms"]
    verdict = {}
    if "finetune" in arms:
        for m in ("kd", "au"):
            if m in arms:
                verdict[m] = {"minus_finetune_points": 100 * (arms[m]["mean"] - arms["finetune"]["mean"]),
                              "minus_scratch_points": 100 * (arms[m]["mean"] - arms["scratch"]["mean"])
                              if "scratch" in arms else None,
                              "share_of_pretraining_route": arms[m]["total_flops"] / arms["finetune"]["total_flops"]}
    results.update(seeds=args.seeds, config=str(TASK.relative_to(ROOT)), overrides=over,
                   imagenet_pretraining=route, distilled_vs_pretrained=verdict, commit=_commit(),
                   machine={"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                            "torch": torch.__version__},
                   minutes_this_invocation=round((time.perf_counter() - t0) / 60, 1))
    args.out.write_text(json.dumps(results, indent=1))
    plot(results, args.plot)
    print(table(results))
    for m, v in verdict.items():
        print(f"{m}: {v['minus_finetune_points']:+.2f} points against pre-training + fine-tuning, using "
              f"{100 * v['share_of_pretraining_route']:.3g} % of its compute")
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
