"""The loss-term registry: the base class and context of a term, registration (with the method presets that
introduce each term, written next to its class), and the weighted set of terms a run trains with.

Each term declares the Features it needs from the student and the teacher, so requirements are checked before
training and the teacher outputs that are computed (or cached) are exactly those.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import Features


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
PRESETS: dict[str, dict[str, float]] = {}  # method presets (--method): weighted sets of terms
PRESET_HELP: dict[str, str] = {}


def register_term(name: str, presets: dict[str, tuple[dict[str, float], str]] | None = None
                  ) -> Callable[[type[LossTerm]], type[LossTerm]]:
    """Register a term class under ``name``, with the method presets that introduce it (``{preset: (weights,
    help)}``, written next to the class): ``PRESETS`` and ``PRESET_HELP`` are derived from the registrations."""

    def deco(cls: type[LossTerm]) -> type[LossTerm]:
        TERMS[name] = cls
        cls.term_name = name  # type: ignore[attr-defined]
        for preset, (weights, text) in (presets or {}).items():
            PRESETS[preset] = dict(weights)
            PRESET_HELP[preset] = text
        return cls

    return deco


def term_needs_teacher(name: str) -> bool:
    """Whether the registered term ``name`` reads the teacher's outputs."""
    return bool(TERMS[name].needs_teacher)



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
