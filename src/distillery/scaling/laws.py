"""Scaling laws, per-token FLOPs and compute accounting of Busbridge et al. 2025.

Reference: D. Busbridge, A. Shidani, F. Weers, J. Ramapuram, E. Littwin, R. Webb, "Distillation Scaling
Laws", arXiv 2502.08606 (v2). Equation and table numbers below refer to that paper.

Units: ``N`` = non-embedding parameters, ``D`` = training tokens, losses in nats/token (cross-entropy),
compute in FLOPs. All functions accept numpy arrays and broadcast.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DistilleryError

__all__ = ["PAPER_DISTILLATION", "PAPER_SUPERVISED", "DistillationCoefficients", "ScalingLaws", "FlopsFn", "Scenario",
           "SupervisedCoefficients", "compute_optimal_exponents", "distillation_loss", "forward_flops",
           "forward_flops_2n", "student_tokens_for_budget", "supervised_compute", "supervised_loss", "total_compute"]

FlopsFn = Callable[[Any], Any]
"""A per-token forward-FLOPs function ``F(N)`` (numpy-broadcasting)."""


@dataclass(frozen=True)
class SupervisedCoefficients:
    """Coefficients of the supervised law ``L(N, D) = E + (A/N^alpha + B/D^beta)^gamma``.

    Busbridge et al. 2025 (arXiv 2502.08606), Eq. 1; defaults are the fitted values of their Table 6
    (73 supervised runs, C4, decoder LMs under muP). They are specific to that architecture and data.
    """

    E: float = 1.220
    A: float = 3355.0
    B: float = 18186.0
    alpha: float = 0.408
    beta: float = 0.431
    gamma: float = 0.452

    def as_dict(self) -> dict[str, float]:
        """The coefficients by name (Table 6 of Busbridge et al. 2025 uses the same names)."""
        return asdict(self)

    def with_(self, **changes: float) -> SupervisedCoefficients:
        """A copy with some coefficients of Eq. 1 (Busbridge et al. 2025) replaced."""
        return replace(self, **changes)


@dataclass(frozen=True)
class DistillationCoefficients:
    """Coefficients of the distillation law (Busbridge et al. 2025, arXiv 2502.08606, Eq. 8).

    ``A, B, alpha, beta, gamma`` are the primed coefficients A', B', alpha', beta', gamma' of Table 6;
    ``c0, c1, f1, d1`` parametrise the teacher-dependence and the broken power law (capacity gap) whose
    transition sits at ``L_T / L~_S = d1``. Defaults: Table 6 (697 distillation runs). Table 6's interval
    for c1 is degenerate (522.6, 522.6): c1 is poorly identified by data (see ``fit.py``).
    """

    A: float = 2243.0
    B: float = 24181.0
    alpha: float = 0.321
    beta: float = 0.637
    gamma: float = 0.764
    c0: float = 2.549
    c1: float = 522.6
    f1: float = 0.090
    d1: float = 1.315

    def as_dict(self) -> dict[str, float]:
        """The coefficients by name (A, B, ... stand for Table 6's primed A', B', ...)."""
        return asdict(self)

    def with_(self, **changes: float) -> DistillationCoefficients:
        """A copy with some coefficients of Eq. 8 (Busbridge et al. 2025) replaced."""
        return replace(self, **changes)


PAPER_SUPERVISED = SupervisedCoefficients()
"""Table 6 supervised coefficients of Busbridge et al. 2025 (arXiv 2502.08606)."""

PAPER_DISTILLATION = DistillationCoefficients()
"""Table 6 distillation coefficients of Busbridge et al. 2025 (arXiv 2502.08606)."""


def compute_optimal_exponents(
    coefs: SupervisedCoefficients | DistillationCoefficients = PAPER_SUPERVISED,
) -> tuple[float, float]:
    """Compute-optimal exponents ``(a, b)`` with ``N* ∝ C^a`` and ``D* ∝ C^b`` (C = 6ND).

    Busbridge et al. 2025 (arXiv 2502.08606), Table 6: ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``
    (the caption prints ``b = beta/(alpha+beta)``, a typo; the tabulated numbers are the formula used here).
    For the distillation law these are the exponents of the student term at fixed teacher (a', b').
    """
    s = coefs.alpha + coefs.beta
    return coefs.beta / s, coefs.alpha / s


def _pos(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise DistilleryError(f"scaling law: {name} must be finite and > 0, got {x!r}")
    return arr


def _out(x: NDArray[np.float64]) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def supervised_loss(N: ArrayLike, D: ArrayLike, coefs: SupervisedCoefficients = PAPER_SUPERVISED) -> Any:
    """Supervised cross-entropy ``L(N, D) = E + (A N^-alpha + B D^-beta)^gamma``.

    Busbridge et al. 2025 (arXiv 2502.08606), Eq. 1 with Table 6 coefficients by default.
    ``N``: non-embedding parameters, ``D``: tokens. Returns a float for scalar input.
    """
    return _out(_supervised_raw(_pos(N, "N"), _pos(D, "D"), coefs))


def _supervised_raw(n: Any, d: Any, c: SupervisedCoefficients) -> Any:
    return c.E + (c.A * n ** (-c.alpha) + c.B * d ** (-c.beta)) ** c.gamma


def distillation_loss(N_S: ArrayLike, D_S: ArrayLike, L_T: ArrayLike,
                      supervised: SupervisedCoefficients = PAPER_SUPERVISED,
                      distillation: DistillationCoefficients = PAPER_DISTILLATION) -> Any:
    """Student cross-entropy after pure distillation from a teacher of cross-entropy ``L_T``.

    Busbridge et al. 2025 (arXiv 2502.08606), Eq. 8 (= Eq. 46)::

        L_S = L_T + L_T^-c0 (1 + (L_T / (L~_S d1))^(1/f1))^(-c1 f1) (A' N_S^-alpha' + B' D_S^-beta')^gamma'

    with ``L~_S = L(N_S, D_S)`` the student's supervised loss (Eq. 1, ``supervised`` coefficients).
    The teacher enters only through ``L_T`` (e.g. ``L_T = supervised_loss(N_T, D_T)``).
    """
    n, d, lt = _pos(N_S, "N_S"), _pos(D_S, "D_S"), _pos(L_T, "L_T")
    return _out(_distillation_raw(n, d, lt, supervised, distillation))


def _distillation_raw(n: Any, d: Any, lt: Any, supervised: SupervisedCoefficients, c: DistillationCoefficients) -> Any:
    l_sup = _supervised_raw(n, d, supervised)
    # log(1 + x^(1/f1)) computed stably as softplus(log(x)/f1)
    log_ratio = (np.log(lt) - np.log(l_sup) - math.log(c.d1)) / c.f1
    log_gap = -c.c1 * c.f1 * np.logaddexp(0.0, log_ratio)
    student = (c.A * n ** (-c.alpha) + c.B * d ** (-c.beta)) ** c.gamma
    return lt + np.exp(-c.c0 * np.log(lt) + log_gap) * student


@contextlib.contextmanager
def _single_thread_blas() -> Iterator[None]:
    """Run SciPy's small optimisations with one BLAS thread (many threads make L-BFGS-B ~10x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only a speed-up
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------------------------- FLOPs


def forward_flops(N: ArrayLike, n_ctx: int = 4096, n_vocab: int = 32168, aspect_ratio: float = 128.0,
                  omega: float = 12.0) -> Any:
    """Forward FLOPs per token ``F(N) = 2N (1 + sigma1 n_ctx / N^(1/3) + sigma2 n_vocab / N^(2/3))``.

    Busbridge et al. 2025 (arXiv 2502.08606), Eq. 69 (fixed aspect ratio ``rho = d_model / n_layers``):
    ``sigma1 = (1/(rho omega^2))^(1/3)``, ``sigma2 = (rho/omega)^(1/3)``,
    ``omega = 2 + 2/g_size + n_ffn rho_ffn`` (= 12 for MHA and a gated FFN with rho_ffn = 8/3) and
    ``N = n_layers d_model^2 omega`` non-embedding parameters. Defaults: n_ctx 4096, vocabulary 32168.
    Training costs ``3 F(N)`` per token (backward = 2x forward).
    """
    n = _pos(N, "N")
    sigma1 = (1.0 / (aspect_ratio * omega**2)) ** (1.0 / 3.0)
    sigma2 = (aspect_ratio / omega) ** (1.0 / 3.0)
    return _out(2.0 * n * (1.0 + sigma1 * n_ctx / n ** (1.0 / 3.0) + sigma2 * n_vocab / n ** (2.0 / 3.0)))


def forward_flops_2n(N: ArrayLike) -> Any:
    """The usual approximation ``F(N) = 2N`` (training 6ND); Busbridge et al. 2025 (arXiv 2502.08606) Sec. 5.

    The paper rejects it for small, long-context models (Table 13: -39.7 % error at 103M parameters) but
    it makes the compute-optimal exponents exact (``N* ∝ C^a``), which is why it is offered.
    """
    return _out(2.0 * _pos(N, "N"))


@dataclass(frozen=True)
class ScalingLaws:
    """The laws a plan uses: supervised (Eq. 1) and distillation (Eq. 8) coefficients and ``F(N)`` (Eq. 69).

    Busbridge et al. 2025 (arXiv 2502.08606). Defaults: Table 6 coefficients, Eq. 69 forward FLOPs.
    """

    supervised: SupervisedCoefficients = PAPER_SUPERVISED
    distillation: DistillationCoefficients = PAPER_DISTILLATION
    flops: FlopsFn = forward_flops


# ----------------------------------------------------------------------------------------- scenarios


class Scenario(StrEnum):
    """Which teacher costs count towards the budget (Busbridge et al. 2025, arXiv 2502.08606, Table 2/5).

    ``(delta_logits, delta_pretrain)`` are the indicators of Eq. 9.
    """

    BEST_CASE = "best-case"
    """The teacher exists and its logits are free: only student training counts (0, 0)."""
    TEACHER_INFERENCE = "teacher-inference"
    """The teacher exists; its forward passes on the student's tokens are paid (1, 0)."""
    TEACHER_PRETRAINING = "teacher-pretraining"
    """The teacher must be trained; its logits are free, e.g. stored and reused for many students (0, 1)."""
    TEACHER_PRETRAINING_INFERENCE = "teacher-pretraining-inference"
    """The teacher must be trained and its logits are paid: one teacher for one student (1, 1)."""

    @property
    def delta_logits(self) -> int:
        """``delta_T^Lgt`` of Eq. 9: 1 if teacher inference on the student's tokens is paid."""
        return int(self in (Scenario.TEACHER_INFERENCE, Scenario.TEACHER_PRETRAINING_INFERENCE))

    @property
    def delta_pretrain(self) -> int:
        """``delta_T^Pre`` of Eq. 9: 1 if teacher pre-training is paid."""
        return int(self in (Scenario.TEACHER_PRETRAINING, Scenario.TEACHER_PRETRAINING_INFERENCE))

    @property
    def teacher_trained(self) -> bool:
        """True when the teacher is trained within the budget (``delta_T^Pre = 1`` in Eq. 9)."""
        return bool(self.delta_pretrain)

    @classmethod
    def parse(cls, value: str | Scenario) -> Scenario:
        """A scenario of Table 2/5 from its name (``best-case``, ``teacher-inference``, ...).

        Raises DistilleryError for an unknown name.
        """
        if isinstance(value, Scenario):
            return value
        try:
            return cls(str(value).strip().lower().replace("_", "-"))
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise DistilleryError(f"scenario: unknown {value!r}; choose one of {names}") from None


def supervised_compute(N: ArrayLike, D: ArrayLike, flops: FlopsFn = forward_flops) -> Any:
    """Training compute ``3 F(N) D`` of a supervised run (Busbridge et al. 2025, arXiv 2502.08606, Eq. 9)."""
    return _out(3.0 * np.asarray(flops(N)) * _pos(D, "D"))


def total_compute(N_S: ArrayLike, D_S: ArrayLike, N_T: ArrayLike | None = None, D_T: ArrayLike | None = None,
                  scenario: Scenario | str = Scenario.TEACHER_PRETRAINING_INFERENCE,
                  flops: FlopsFn = forward_flops) -> Any:
    """Total distillation compute (Busbridge et al. 2025, arXiv 2502.08606, Eq. 9 / Eq. 29)::

        C = 3 F(N_S) D_S + F(N_T) (delta_Lgt D_S + delta_Pre 3 D_T)

    ``N_T`` is needed when teacher inference or pre-training is paid, ``D_T`` when pre-training is paid.
    """
    sc = Scenario.parse(scenario)
    total = 3.0 * np.asarray(flops(N_S)) * _pos(D_S, "D_S")
    if sc.delta_logits or sc.delta_pretrain:
        if N_T is None:
            raise DistilleryError(f"total_compute: scenario {sc.value} needs the teacher size N_T")
        f_t = np.asarray(flops(N_T))
        if sc.delta_logits:
            total = total + f_t * np.asarray(D_S, dtype=float)
        if sc.delta_pretrain:
            if D_T is None:
                raise DistilleryError(f"total_compute: scenario {sc.value} needs the teacher tokens D_T")
            total = total + 3.0 * f_t * _pos(D_T, "D_T")
    return _out(total)


def student_tokens_for_budget(C: ArrayLike, N_S: ArrayLike, N_T: ArrayLike | None = None, D_T: ArrayLike | None = None,
                              scenario: Scenario | str = Scenario.TEACHER_INFERENCE,
                              flops: FlopsFn = forward_flops) -> Any:
    """Student tokens affordable with total budget ``C`` (Busbridge et al. 2025, arXiv 2502.08606, Eq. 27)::

        D_S = (C - delta_Pre 3 F(N_T) D_T) / (3 F(N_S) + delta_Lgt F(N_T))

    Returns values <= 0 where the teacher's pre-training alone exceeds the budget.
    """
    sc = Scenario.parse(scenario)
    c = _pos(C, "C")
    num = c.copy()
    den = 3.0 * np.asarray(flops(N_S))
    if sc.delta_logits or sc.delta_pretrain:
        if N_T is None:
            raise DistilleryError(f"student_tokens_for_budget: scenario {sc.value} needs the teacher size N_T")
        f_t = np.asarray(flops(N_T))
        if sc.delta_logits:
            den = den + f_t
        if sc.delta_pretrain:
            if D_T is None:
                raise DistilleryError(f"student_tokens_for_budget: scenario {sc.value} needs the teacher tokens D_T")
            num = num - 3.0 * f_t * np.asarray(D_T, dtype=float)
    return _out(num / den)
