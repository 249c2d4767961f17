"""The compute of the route distillation replaces: pre-train the student, then fine-tune it (Farhat & Chen 2024).

Three sources, always named in the report: a small table of cited costs for well-known students, a measured
pre-training run in distillery, or an estimate from the student's own measured forward FLOPs and a standard
pre-training recipe (ImageNet-1k for images, BERT's token count for text).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

IMAGENET_1K_TRAIN = 1_281_167  # images (Russakovsky et al. 2015)
# Devlin et al. 2019, appendix A.2: 1,000,000 steps of 256 sequences, 90 % of them 128 tokens long, 10 % 512
BERT_PRETRAIN_TOKENS = 256 * (900_000 * 128 + 100_000 * 512)


@dataclass
class PretrainCost:
    flops: float
    source: str
    kind: str  # cited | measured | estimated


def _imagenet(madds: float, epochs: int) -> float:
    return 3 * 2 * madds * IMAGENET_1K_TRAIN * epochs  # forward + backward = 3 x forward; 1 multiply-add = 2 FLOPs


KNOWN: dict[str, PretrainCost] = {
    "resnet18": PretrainCost(_imagenet(1.8e9, 90), "He et al. 2016, Table 1: 1.8e9 multiply-adds per 224x224 "
                             "image; x3 for forward+backward, x1.28M ImageNet-1k images, x90 epochs (torchvision "
                             "reference recipe)", "cited"),
    "resnet50": PretrainCost(_imagenet(3.8e9, 90), "He et al. 2016, Table 1: 3.8e9 multiply-adds per image; x3, "
                             "x1.28M images, x90 epochs (torchvision reference recipe)", "cited"),
    "mobilenet_v2": PretrainCost(_imagenet(300e6, 300), "Sandler et al. 2018: 300M multiply-adds per 224x224 "
                                 "image; x3, x1.28M images, x300 epochs (torchvision reference recipe)", "cited"),
    "bert-base": PretrainCost(6.4e19, "Clark et al. 2020 (ELECTRA), Table 1: BERT-Base pre-training FLOPs",
                              "cited"),
    "bert-small": PretrainCost(1.4e18, "Clark et al. 2020 (ELECTRA), Table 1: BERT-Small pre-training FLOPs",
                               "cited"),
}
_ALIASES = {"resnet18": ("resnet18",), "resnet50": ("resnet50",), "mobilenet_v2": ("mobilenet_v2", "mobilenetv2"),
            "bert-base": ("bert-base", "bert_base"), "bert-small": ("bert-small", "bert_small")}


def known_cost(student_spec: str) -> PretrainCost | None:
    """The cited cost for a well-known student architecture named in ``student_spec`` (None if not known)."""
    s = student_spec.lower().rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    for name, aliases in _ALIASES.items():
        if any(s == a or s.startswith(a + "_") or s.startswith(a + ".") for a in aliases):
            return KNOWN[name]
    return None


def measured_cost(run_dir: str | Path) -> PretrainCost:
    """A pre-training run made with distillery: its total training FLOPs."""
    from ..errors import DistilleryError

    p = Path(run_dir) / "metrics.json"
    if not p.is_file():
        raise DistilleryError(f"--pretrain-run {run_dir}: not a finished run directory (no metrics.json)")
    flops = (json.loads(p.read_text()).get("compute") or {}).get("total_flops")
    if not flops:
        raise DistilleryError(f"--pretrain-run {run_dir}: the run has no compute record")
    return PretrainCost(float(flops), f"measured: distillery run {run_dir}", "measured")


def estimated_cost(run_dir: str | Path) -> PretrainCost:
    """The student's forward FLOPs, measured at the recipe's input size, times a standard pre-training recipe."""
    from ..compute import count_flops
    from ..students import load_student

    net, meta, tok = load_student(run_dir)
    net.eval()
    with torch.no_grad():
        if meta["modality"] == "image":
            x = {"pixel_values": torch.zeros(1, 3, 224, 224, dtype=torch.uint8)}
            fwd, _ = count_flops(lambda: net(x))
            return PretrainCost(3 * fwd * IMAGENET_1K_TRAIN * 90,
                                f"estimated: this student's measured forward FLOPs at 224x224 ({fwd:.3g}) x3 for "
                                "forward+backward, x1.28M ImageNet-1k images, x90 epochs (the torchvision ResNet "
                                "recipe)", "estimated")
        ids = torch.full((1, 128), 5, dtype=torch.long)
        fwd, _ = count_flops(lambda: net({"input_ids": ids, "attention_mask": torch.ones_like(ids)}))
    per_token = fwd / 128
    return PretrainCost(3 * per_token * BERT_PRETRAIN_TOKENS,
                        f"estimated: this student's measured forward FLOPs per token at 128 tokens ({per_token:.3g})"
                        f" x3, x{BERT_PRETRAIN_TOKENS:.3g} tokens (BERT's pre-training, Devlin et al. 2019)",
                        "estimated")


def pretraining_cost(student_spec: str, run_dir: str | Path, pretrain_run: str | Path | None = None
                     ) -> PretrainCost:
    """Measured if a pre-training run is given, else cited for a known architecture, else estimated."""
    if pretrain_run is not None:
        return measured_cost(pretrain_run)
    return known_cost(student_spec) or estimated_cost(run_dir)
