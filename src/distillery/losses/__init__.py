"""Distillation loss terms: the formulas in :mod:`.functional`, the registry and the weighted loss set in
:mod:`.registry`, the basic terms in :mod:`.terms` and the method zoo in :mod:`.zoo` (importing this package
registers them all, with their method presets)."""
from . import terms, zoo  # noqa: F401  (registration by import)
from .registry import (
                       PRESET_HELP,
                       PRESETS,
                       TERMS,
                       LossSet,
                       LossTerm,
                       TermContext,
                       build_loss_set,
                       check_requirements,
                       register_term,
                       resolve_terms,
                       term_needs_teacher,
)

__all__ = ["PRESETS", "PRESET_HELP", "TERMS", "LossSet", "LossTerm", "TermContext", "build_loss_set",
           "check_requirements", "register_term", "resolve_terms", "term_needs_teacher"]
