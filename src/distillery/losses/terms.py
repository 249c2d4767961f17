"""Loss terms: thin modules around :mod:`.functional` holding what is trainable, registered by name.

Each term declares the Features it needs from the student and the teacher, so requirements are checked before
training and the teacher outputs that are computed (or cached) are exactly those.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from . import functional as LF


@dataclass
class TermContext:
    """What a term may need to build its trainable parts."""

    student_dim: int
    teacher_dim: int | None
    num_classes: int
    temperature: float = 4.0
    projector: str = "mlp"
    proj_dim: int = 128
    num_train: int = 0
    teacher_head: nn.Module | None = None  # the teacher's (frozen) task head, for terms such as SRRL


class LossTerm(nn.Module):
    """Base class. ``forward(student, teacher, batch)`` returns the unweighted scalar loss.

    ``batch`` is the training batch: ``batch["label"]``, ``batch["index"]`` (sample indices) and the inputs
    ``batch["student"]`` / ``batch["teacher"]`` (e.g. ``attention_mask``).
    """

    reference: ClassVar[str] = ""
    needs_student: ClassVar[frozenset[str]] = frozenset({"logits"})
    needs_teacher: ClassVar[frozenset[str]] = frozenset()

    def forward(self, s: Features, t: Features | None, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError


TERMS: dict[str, type[LossTerm]] = {}


def register_term(name: str) -> Callable[[type[LossTerm]], type[LossTerm]]:
    def deco(cls: type[LossTerm]) -> type[LossTerm]:
        TERMS[name] = cls
        cls.term_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def make_projector(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """Projector to the shared space (DAPT code): ``mlp`` = Linear(d,d)-ReLU-Linear(d,out) (MoCo v2); ``linear``."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))


@register_term("ce")
class CrossEntropy(LossTerm):
    """Cross-entropy with the ground-truth labels."""

    reference = "supervised cross-entropy"

    def __init__(self, ctx: TermContext, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, s, t, batch):
        labels = batch["label"]
        labelled = labels >= 0  # -1: an unlabelled transfer example (data.transfer), not seen by this term
        if not bool(labelled.all()):
            if not bool(labelled.any()):
                return s.logits.float().sum() * 0.0
            return F.cross_entropy(s.logits.float()[labelled], labels[labelled], label_smoothing=self.label_smoothing)
        return F.cross_entropy(s.logits.float(), labels, label_smoothing=self.label_smoothing)


@register_term("kd")
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


@register_term("align_uniform")
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
        hs = F.normalize(self.student_proj(s.embedding.float()), dim=-1)
        ht = F.normalize(self.teacher_proj(t.embedding.float()), dim=-1)
        align = LF.align_loss(hs, ht, self.alpha)
        unif = (LF.uniform_loss(hs, self.t) + LF.uniform_loss(ht, self.t)) / 2
        return self.align_weight * align + self.uniform_weight * unif


# Method presets: weighted sets of terms (Farhat & Chen 2024 / DAPT code, papers.md §1.4).
PRESETS: dict[str, dict[str, float]] = {
    "scratch": {"ce": 1.0},
    "kd": {"ce": 1.0, "kd": 1.0},
    "au": {"ce": 1.0, "kd": 1.0, "align_uniform": 1.0},
    # the method zoo (terms in .zoo); weights from the code each method is usually run with (see docs/methods.md)
    "crd": {"ce": 1.0, "kd": 1.0, "crd": 1.0},  # DAPT distill.py --distill crd: l1 = l2 = l3 = 1
    "srrl": {"ce": 1.0, "srrl": 1.0},  # DAPT --distill srrl: CE 1, feature MSE 1, logit MSE 1, KD 0
    "dkd": {"ce": 1.0, "dkd": 1.0},  # mdistiller: CE 1 + DKD (alpha 1, beta 8, T 4)
    "rkd": {"ce": 1.0, "rkd": 1.0},  # RepDistiller -a 0 -b 1; distance 25 / angle 50 inside the term
    "pkt": {"ce": 1.0, "pkt": 30000.0},  # RepDistiller -a 0 -b 30000
    "fitnet": {"ce": 1.0, "fitnet": 100.0},  # RepDistiller --distill hint -a 0 -b 100
    "tinybert": {"ce": 1.0, "kd": 1.0, "tinybert": 1.0},  # intermediate layers + prediction-layer KD, plus CE
    "minilm": {"ce": 1.0, "kd": 1.0, "minilm": 1.0},  # Q-Q/K-K/V-V relations of the last layer + KD, plus CE
}
PRESET_HELP: dict[str, str] = {
    "scratch": "the student alone, cross-entropy only (the baseline)",
    "kd": "Hinton KD (T=4) + cross-entropy",
    "au": "Farhat & Chen 2024: cross-entropy + KD + alignment/uniformity on projected embeddings (default)",
    "crd": "Tian, Krishnan & Isola 2020 (CRD), weights as Farhat & Chen 2024's code: CE + KD + contrastive "
           "representation distillation on embeddings (queue mode; params.mode: memory for the original banks)",
    "srrl": "Yang et al. 2021 (SRRL), as Farhat & Chen 2024's code: CE + connector feature MSE + MSE of the teacher's "
            "frozen head on the connected student features (no KD)",
    "dkd": "Zhao et al. 2022 (DKD): CE + decoupled KD, target/non-target parts (alpha 1, beta 8, T 4)",
    "rkd": "Park et al. 2019 (RKD): CE + distance (x25) and angle (x50) relations of the embeddings",
    "pkt": "Passalis & Tefas 2018 (PKT): CE + 30000 x KL of cosine-similarity distributions of the embeddings",
    "fitnet": "Romero et al. 2015 (FitNets): CE + 100 x MSE of a regressed middle hidden state (needs hidden states)",
    "tinybert": "Jiao et al. 2020 (TinyBERT): CE + KD + embedding, hidden-state and raw attention-score MSE over a "
                "uniform layer map (transformers, shared tokenizer)",
    "minilm": "Wang et al. 2021 (MiniLMv2): CE + KD + Q-Q/K-K/V-V self-relation KL of the last layer "
              "(transformers, shared tokenizer)",
}


class LossSet(nn.Module):
    """The weighted terms of one run; ``forward`` returns ``{name: weighted loss}``."""

    def __init__(self, terms: dict[str, LossTerm], weights: dict[str, float]):
        super().__init__()
        self.terms = nn.ModuleDict(terms)
        self.weights = dict(weights)

    @property
    def needs_teacher(self) -> set[str]:
        return set().union(*(type(t).needs_teacher for t in self.terms.values())) if self.terms else set()

    @property
    def needs_student(self) -> set[str]:
        return set().union(*(type(t).needs_student for t in self.terms.values())) if self.terms else set()

    def cost_state(self) -> tuple:
        """What, besides the input shapes, decides the FLOPs of a step: the ``cost_state()`` of every term whose
        cost changes as it runs (CRD's queue fills over the first steps). The FLOP meter re-counts a step when it
        changes."""
        return tuple((name, term.cost_state()) for name, term in self.terms.items()
                     if hasattr(term, "cost_state") and self.weights[name] != 0)

    def forward(self, s: Features, t: Features | None, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {name: self.weights[name] * term(s, t, batch) for name, term in self.terms.items()
                if self.weights[name] != 0}


def resolve_terms(method: str, explicit: dict[str, Any] | None) -> dict[str, tuple[float, dict[str, Any]]]:
    """``{name: (weight, params)}`` from an explicit ``distill.terms`` mapping or a named preset."""
    if explicit:
        out = {}
        for name, tc in explicit.items():
            weight = tc.weight if hasattr(tc, "weight") else float(tc.get("weight", 1.0))
            params = tc.params if hasattr(tc, "params") else dict(tc.get("params", {}))
            out[name] = (weight, params)
    else:
        if method not in PRESETS:
            raise DistilleryError(f"distill.method: unknown method {method!r}; known: {', '.join(sorted(PRESETS))}")
        out = {name: (w, {}) for name, w in PRESETS[method].items()}
    unknown = [n for n in out if n not in TERMS]
    if unknown:
        raise DistilleryError(f"distill.terms: unknown term {unknown[0]!r}; known: {', '.join(sorted(TERMS))}")
    return out


def build_loss_set(spec: dict[str, tuple[float, dict[str, Any]]], ctx: TermContext) -> LossSet:
    terms, weights = {}, {}
    for name, (weight, params) in spec.items():
        try:
            terms[name] = TERMS[name](ctx, **params)
        except TypeError as e:
            raise DistilleryError(f"distill.terms.{name}.params: {e}") from None
        weights[name] = weight
    return LossSet(terms, weights)


def check_requirements(loss_set: LossSet, student_has: set[str], teacher_has: set[str] | None,
                       student_name: str = "the student", teacher_name: str = "the teacher") -> None:
    """Fail before training when a term needs Features a network cannot give."""
    hint = "; choose a method whose terms it supports (see `distillery methods`)"
    for name, term in loss_set.terms.items():
        missing_s = set(type(term).needs_student) - student_has
        if missing_s:
            raise DistilleryError(f"loss term {name!r} needs student {', '.join(sorted(missing_s))}, which "
                                  f"{student_name} does not provide{hint}")
        if type(term).needs_teacher:
            if teacher_has is None:
                raise DistilleryError(f"loss term {name!r} needs a teacher; set the teacher section")
            missing_t = set(type(term).needs_teacher) - teacher_has
            if missing_t:
                raise DistilleryError(f"loss term {name!r} needs teacher {', '.join(sorted(missing_t))}, which "
                                      f"{teacher_name} does not provide{hint}")


from . import zoo  # noqa: E402,F401  (registers the method-zoo terms)
