"""The MobileNet v1 port on real data: a linear probe on the ImageNet-pre-trained features against the same probe on
random-init features, CIFAR-10 (the JPEG copy) upsampled to 96 px. A wrong weight layout gives near-random features;
the issue's bar is a gap of at least 15 points.

    python benchmarks/mobilenet_probe.py [--train 5000] [--test 2000] [--size 96]

Writes benchmarks/results/mobilenet_probe.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NPZ = DATA / "mobilenet_v1_025_imagenet" / "mobilenet_v1_025_224_keras.npz"


@torch.no_grad()
def embed(net, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    net.eval()
    return torch.cat([net({"pixel_values": images[i:i + batch]}).embedding for i in range(0, len(images), batch)])


def main() -> None:
    from distillery.config import DataConfig
    from distillery.data import load_task_data
    from distillery.models import create_model
    from distillery.teacher.head import fit_linear_probe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=5000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load_task_data(DataConfig(source=str(DATA / "cifar10_jpeg" / "cifar10_jpeg.npz"), val_fraction=0.0,
                                     image_size=args.size), seed=0)
    rng = np.random.default_rng(0)
    tr = torch.from_numpy(np.sort(rng.permutation(len(data.train))[:args.train]))
    te = torch.from_numpy(np.sort(rng.permutation(len(data.test))[:args.test]))
    x_tr, y_tr, x_te, y_te = data.train.inputs[tr], data.train.labels[tr], data.test.inputs[te], data.test.labels[te]
    out = {"images": {"train": len(tr), "test": len(te), "size": args.size}, "weights": str(NPZ.relative_to(DATA))}
    for name, weights in (("imagenet_pretrained", str(NPZ)), ("random_init", None)):
        torch.manual_seed(0)
        net = create_model("mobilenet_v1", 10, weights=weights)
        f_tr, f_te = embed(net, x_tr), embed(net, x_te)
        head, info = fit_linear_probe(f_tr, y_tr, 10, None, None)
        acc = float((head(f_te).argmax(1) == y_te).float().mean())
        out[name] = {"probe_test_accuracy": acc, "l2": info["l2"]}
        print(f"{name}: linear probe test accuracy {acc:.4f}", flush=True)
    out["gap_points"] = 100 * (out["imagenet_pretrained"]["probe_test_accuracy"]
                               - out["random_init"]["probe_test_accuracy"])
    out["meets_15_points"] = out["gap_points"] >= 15
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    out["written_by"] = {"command": "python benchmarks/mobilenet_probe.py", "commit": commit.stdout.strip(),
                         "date": time.strftime("%Y-%m-%d"), "wall_s": round(time.perf_counter() - t0, 1)}
    path = ROOT / "benchmarks" / "results" / "mobilenet_probe.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"gap {out['gap_points']:.1f} points; wrote {path}")


if __name__ == "__main__":
    main()
