"""The basic loss terms (cross-entropy, Hinton KD and its reverse/JSD variants, alignment/uniformity) as thin
modules around :mod:`.functional`, each registered with the method presets that introduce it (Farhat & Chen 2024
/ DAPT code, papers.md §1.4); the method zoo is in :mod:`.zoo`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DistilleryError
from . import functional as LF
from .registry import LossTerm, TermContext, register_term


def make_projector(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """Projector to the shared space (DAPT code): ``mlp`` = Linear(d,d)-ReLU-Linear(d,out) (MoCo v2); ``linear``."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))


def projector_input(x: torch.Tensor, projector: nn.Module) -> torch.Tensor:
    """``x`` as ``projector`` takes it: unchanged under autocast (which casts what the matmuls need), else in the
    projector's dtype (a float32 cached teacher embedding into the bf16 weights of a ``bf16-true`` run)."""
    if torch.is_autocast_enabled(x.device.type):
        return x
    weight = next(projector.parameters())
    return x if x.dtype == weight.dtype else x.to(weight.dtype)


@register_term("ce", presets={"scratch": ({"ce": 1.0}, "the student alone, cross-entropy only (the baseline)")})
class CrossEntropy(LossTerm):
    """Cross-entropy with the ground-truth labels."""

    reference = "supervised cross-entropy"

    def __init__(self, ctx: TermContext, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, s, t, batch):
        labels = batch["label"]
        if "lam" in batch:  # mixed images (data.mixup): lam * CE(own label) + (1 - lam) * CE(partner's label)
            logits, lam = s.logits.float(), batch["lam"].to(s.logits.device)
            ce = [F.cross_entropy(logits, y, reduction="none", label_smoothing=self.label_smoothing)
                  for y in (labels, batch["label_mix"])]
            return (lam * ce[0] + (1 - lam) * ce[1]).mean()
        labelled = labels >= 0  # -1: an unlabelled transfer example (data.transfer), not seen by this term
        if not bool(labelled.all()):
            if not bool(labelled.any()):
                return s.logits.float().sum() * 0.0
            return F.cross_entropy(s.logits.float()[labelled], labels[labelled], label_smoothing=self.label_smoothing)
        return F.cross_entropy(s.logits.float(), labels, label_smoothing=self.label_smoothing)


@register_term("kd", presets={"kd": ({"ce": 1.0, "kd": 1.0}, "Hinton KD (T=4) + cross-entropy")})
class KD(LossTerm):
    """Hinton et al. 2015: KL between temperature-softened teacher and student distributions, times T²."""

    reference = "Hinton, Vinyals & Dean 2015, Distilling the Knowledge in a Neural Network"
    needs_teacher = frozenset({"logits"})

    def __init__(self, ctx: TermContext, temperature: float | None = None):
        super().__init__()
        self.temperature = temperature if temperature is not None else ctx.temperature

    def forward(self, s, t, batch):
        return LF.kd_loss(s.logits, t.logits, self.temperature)


@register_term("rkl")
class ReverseKL(KD):
    """Reverse KL between softened student and teacher distributions, times T² (next-token distillation)."""

    reference = "Gu et al. 2024 (MiniLLM); Busbridge et al. 2025 compare it with forward KL"

    def forward(self, s, t, batch):
        return LF.reverse_kl_loss(s.logits, t.logits, self.temperature)


@register_term("jsd")
class GeneralizedJSD(KD):
    """Generalized Jensen-Shannon divergence with weight ``beta`` on the teacher, times T²."""

    reference = "Agarwal et al. 2024 (GKD), generalized JSD"

    def __init__(self, ctx: TermContext, beta: float = 0.5, temperature: float | None = None):
        super().__init__(ctx, temperature)
        if not 0.0 < beta < 1.0:
            raise DistilleryError(f"distill.terms.jsd.params.beta: {beta} must be in (0, 1)")
        self.beta = beta

    def forward(self, s, t, batch):
        return LF.jsd_loss(s.logits, t.logits, self.beta, self.temperature)


@register_term("align_uniform", presets={"au": (
    {"ce": 1.0, "kd": 1.0, "align_uniform": 1.0},
    "Farhat & Chen 2024: cross-entropy + KD + alignment/uniformity on projected embeddings (default)")})
class AlignUniform(LossTerm):
    """Farhat & Chen 2024 with Wang & Isola 2020: alignment + uniformity on projected, normalised embeddings.

    Both sides are projected to a shared space by trainable projectors (the teacher's projector trains with the
    student; the teacher backbone stays frozen). ``L = w_a*align(h_s, h_t) + w_u*(unif(h_s) + unif(h_t))/2``.
    """

    reference = "Farhat & Chen 2024 (DAPT); Wang & Isola 2020, Alignment and Uniformity"
    needs_student = frozenset({"embedding"})
    needs_teacher = frozenset({"embedding"})

    def __init__(self, ctx: TermContext, alpha: float = 2.0, t: float = 2.0, align_weight: float = 1.0,
                 uniform_weight: float = 1.0, projector: str | None = None, proj_dim: int | None = None):
        super().__init__()
        kind, dim = projector or ctx.projector, proj_dim or ctx.proj_dim
        self.student_proj = make_projector(kind, ctx.student_dim, dim)
        self.teacher_proj = make_projector(kind, ctx.teacher_dim or ctx.student_dim, dim)
        self.alpha, self.t = alpha, t
        self.align_weight, self.uniform_weight = align_weight, uniform_weight

    def forward(self, s, t, batch):
        # normalised once, in float32 (the projectors may have run under bf16 autocast)
        hs = F.normalize(self.student_proj(projector_input(s.embedding, self.student_proj)).float(), dim=-1)
        ht = F.normalize(self.teacher_proj(projector_input(t.embedding, self.teacher_proj)).float(), dim=-1)
        align = LF.align_loss(hs, ht, self.alpha, normalized=True)
        unif = (LF.uniform_loss(hs, self.t, normalized=True) + LF.uniform_loss(ht, self.t, normalized=True)) / 2
        return self.align_weight * align + self.uniform_weight * unif
