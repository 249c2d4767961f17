"""What the alignment/uniformity term costs per training step (issue 25), measured side by side in one process.

The Banking77 text CNN of configs/banking77_minilm_to_textcnn.yaml (4.2 M parameters, 768-d embedding) trained on
a fixed batch of 64 texts with CE + KD on cached teacher logits (the end-to-end floor's loss), against the same step
plus Farhat & Chen 2024's alignment/uniformity term (two MLP projectors to 128-d, the teacher side on cached 384-d
MiniLM embeddings; :class:`distillery.losses.terms.AlignUniform`), under bf16 autocast with fused AdamW as
distillery trains it. Rounds alternate between the two steps; the minimum over rounds is reported. Writes
benchmarks/results/au_step_cost.json.

    python benchmarks/au_step_cost.py --threads 2
    python benchmarks/au_step_cost.py --threads 2 --projector linear --out benchmarks/results/au_step_cost_linear.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from distillery.compute.peak import device_name
    from distillery.losses.functional import kd_loss
    from distillery.losses.terms import AlignUniform
    from distillery.models.text_cnn import TextCNN

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--length", type=int, default=24, help="tokens per text (Banking77's batches: about 20-30)")
    ap.add_argument("--projector", choices=["mlp", "linear"], default="mlp", help="distill.projector")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30, help="steps per round")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "au_step_cost.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = TextCNN(77, 30522, embed_dim=128, num_filters=256, kernel_sizes=[1, 2, 3], dropout=0.5)
    ctx = SimpleNamespace(projector=args.projector, proj_dim=128, student_dim=3 * 256, teacher_dim=384)
    au = AlignUniform(ctx)
    b = 64
    inputs = {"input_ids": torch.randint(1, 30522, (b, args.length)),
              "attention_mask": torch.ones(b, args.length, dtype=torch.long)}
    labels, t_logits, t_emb = torch.randint(0, 77, (b,)), torch.randn(b, 77), torch.randn(b, 384)
    teacher = SimpleNamespace(embedding=t_emb)

    def make(with_au: bool):
        params = list(net.parameters()) + (list(au.parameters()) if with_au else [])
        opt = torch.optim.AdamW(params, lr=1e-3, fused=True)

        def step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(inputs)
                loss = F.cross_entropy(out.logits.float(), labels) + kd_loss(out.logits, t_logits, 4.0)
                if with_au:
                    loss = loss + au(out, teacher, None)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    steps = {"ce_kd": make(False), "ce_kd_au": make(True)}
    for s in steps.values():
        for _ in range(10):
            s()
    ms: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):
        for k, s in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                s()
            ms[k].append(1000 * (time.perf_counter() - t0) / args.steps)
    res = {"ms_per_step": {k: round(min(v), 3) for k, v in ms.items()},
           "ratio": round(min(ms["ce_kd_au"]) / min(ms["ce_kd"]), 3),
           "projector_params": sum(p.numel() for p in au.parameters()),
           "student_params": sum(p.numel() for p in net.parameters()),
           "projector": args.projector, "threads": args.threads, "batch": b, "length": args.length,
           "torch": torch.__version__, "device": device_name(torch.device("cpu"))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
