"""Scaling-law planner: Busbridge et al. 2025, "Distillation Scaling Laws" (arXiv 2502.08606).

- :mod:`~distillery.scaling.laws`: supervised law (Eq. 1), distillation law (Eq. 8), F(N) (Eq. 69) and the
  compute of the four teacher scenarios (Eq. 9).
- :mod:`~distillery.scaling.optimal`: compute-optimal allocation (Eq. 28), verdict and crossover compute.
- :mod:`~distillery.scaling.fit`: fit the laws to your own finished runs (metrics.json).
- :mod:`~distillery.scaling.plots` and :mod:`~distillery.scaling.cli` (``distillery plan``).
"""

from .fit import FitResult, RunRecord, fit_distillation, fit_laws, fit_supervised, read_runs
from .laws import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    DistillationCoefficients,
    ScalingLaws,
    Scenario,
    SupervisedCoefficients,
    compute_optimal_exponents,
    distillation_loss,
    forward_flops,
    forward_flops_2n,
    student_tokens_for_budget,
    supervised_compute,
    supervised_loss,
    total_compute,
)
from .optimal import (
    Comparison,
    DistillationPlan,
    SupervisedPlan,
    compare,
    crossover_compute,
    optimal_distillation,
    optimal_supervised,
)

__all__ = ["PAPER_DISTILLATION", "PAPER_SUPERVISED", "Comparison", "FitResult", "RunRecord", "DistillationCoefficients",
           "DistillationPlan", "Scenario", "ScalingLaws", "SupervisedCoefficients", "SupervisedPlan", "compare",
           "compute_optimal_exponents", "crossover_compute", "distillation_loss", "fit_distillation", "fit_laws",
           "fit_supervised", "forward_flops", "forward_flops_2n", "optimal_distillation", "optimal_supervised",
           "read_runs", "student_tokens_for_budget", "supervised_compute", "supervised_loss", "total_compute"]
