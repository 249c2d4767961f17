"""Compute-optimal allocation, the distill-or-not verdict and the crossover compute.

Busbridge et al. 2025, "Distillation Scaling Laws", arXiv 2502.08606: the compute-optimal distillation
problem (Eq. 10 / Eq. 28) is ``argmin_{D_S, N_T, D_T} L_S(N_S, D_S, L_T = L(N_T, D_T))`` subject to the total
compute of Eq. 9 being the budget ``C``; the paper solves it with SciPy SLSQP and bounds
``N_T, D_S, D_T in [1M, 100P]``. Here the equality constraint is eliminated instead: student tokens are what
the budget leaves (Eq. 27), and when the teacher is trained a variable ``u`` is the fraction of ``C`` spent
pre-training it. A dense grid over the free variables is refined with L-BFGS-B from its best points.

Sizes may be fixed (a number) or free within bounds (a ``(low, high)`` tuple); ``None`` means free within
the paper's bounds ``[1e6, 1e17]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq, minimize, minimize_scalar

from ..errors import DistilleryError
from .laws import (
    ScalingLaws,
    Scenario,
    _distillation_raw,
    _single_thread_blas,
    _supervised_raw,
)

__all__ = ["BOUNDS", "COMPUTE_RANGE", "MARGIN", "MIN_TOKENS_PER_PARAM", "Comparison", "DistillationPlan", "SizeSpec",
           "SupervisedPlan", "compare", "crossover_compute", "optimal_distillation", "optimal_supervised"]

BOUNDS: tuple[float, float] = (1e6, 1e17)
"""Bounds on sizes and tokens of the paper's optimiser (Busbridge et al. 2025, Sec. 5.3 / Eq. 28)."""

SizeSpec = float | tuple[float, float] | None
"""A fixed value, a ``(low, high)`` range to optimise within, or ``None`` for :data:`BOUNDS`."""

MIN_TOKENS_PER_PARAM = 1.0
"""Default floor on a free-sized student's tokens per parameter. Without it the distillation law, optimised
over student size, runs to huge students trained on ~1e-4 tokens per parameter, far outside the runs it was
fitted on (Busbridge et al. 2025 fit students with tens to hundreds of tokens per parameter, and isoFLOP
students down to about one)."""

MARGIN = 0.01
"""Default relative margin: distil only if the predicted student loss is lower than the supervised one by more
than 1 %, the law's own relative prediction error ("≲ 1 %", Busbridge et al. 2025). Smaller differences are
within the law's error (at very large budgets the two laws' limits differ by ~0.3 % only because their
coefficients are rounded), and then the simpler option, supervised training, is recommended. 0 gives the
paper's definition (equal losses)."""

COMPUTE_RANGE: tuple[float, float] = (1e17, 1e29)
"""Budgets (FLOPs) scanned for the crossover compute."""

_INFEASIBLE = 1e6  # loss assigned where the budget cannot pay for the teacher
_LOGIT_MAX = 14.0  # teacher-pretraining fraction u in [sigmoid(-14), sigmoid(14)]


@dataclass(frozen=True)
class SupervisedPlan:
    """A supervised allocation ``(N, D)`` of budget ``C = 3 F(N) D`` and its predicted loss (Eq. 1).

    Busbridge et al. 2025 (arXiv 2502.08606). ``notes`` flag extrapolation and sizes at their bounds.
    """

    compute: float
    student_params: float
    student_tokens: float
    student_loss: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistillationPlan:
    """A distillation allocation of budget ``compute`` (Eq. 9) and its predicted student loss (Eq. 8).

    ``teacher_params``/``teacher_tokens`` are ``None`` where the plan does not determine them (a teacher
    given only by its loss). In the best-case scenario the teacher costs nothing, so any teacher with the
    same ``teacher_loss`` is equally good. ``compute_*`` split the budget as in the paper's Table 3.
    ``feasible`` is False when the teacher's fixed pre-training cost exceeds the budget. ``notes`` flag
    extrapolation and variables at their bounds.
    """

    compute: float
    scenario: Scenario
    student_params: float
    student_tokens: float
    teacher_params: float | None
    teacher_tokens: float | None
    teacher_loss: float
    student_loss: float
    student_supervised_loss: float
    compute_student: float
    compute_teacher_logits: float
    compute_teacher_pretraining: float
    feasible: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """Distillation vs supervised for one budget; Busbridge et al. 2025 (arXiv 2502.08606) Sec. 5.

    ``verdict`` is ``"distill"`` when the distilled student's predicted loss is lower than the supervised
    one by more than the relative ``margin``, else ``"train supervised"``. ``crossover`` is the budget where
    that advantage vanishes (see :func:`crossover_compute`): ``None`` if distillation never wins in the
    searched range, ``inf`` if it always does.
    """

    distillation: DistillationPlan
    supervised: SupervisedPlan
    verdict: str
    crossover: float | None
    margin: float = MARGIN

    @property
    def advantage(self) -> float:
        """Supervised minus distilled loss (nats/token, Eqs. 1 and 8); > 0 means distillation is better."""
        return self.supervised.student_loss - self.distillation.student_loss


# ------------------------------------------------------------------------------------------ helpers


def _spec(value: SizeSpec, name: str) -> float | tuple[float, float]:
    if value is None:
        return BOUNDS
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise DistilleryError(f"{name}: a range is (low, high), got {value!r}")
        lo, hi = float(value[0]), float(value[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
            raise DistilleryError(f"{name}: range needs 0 < low <= high, got {value!r}")
        return (lo, hi) if hi > lo else lo
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise DistilleryError(f"{name}: must be a finite number > 0, got {value!r}")
    return v


def _budget(C: float) -> float:
    c = float(C)
    if not math.isfinite(c) or c <= 0:
        raise DistilleryError(f"budget: compute must be a finite number of FLOPs > 0, got {C!r}")
    return c


Vec = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _minimize(
    fun: Vec, lo: list[float], hi: list[float], constraint: Vec | None = None, n_refine: int = 3
) -> tuple[NDArray[np.float64], float]:
    """Minimise ``fun`` over a box (with ``constraint(X) >= 0`` if given): dense grid, then local refinement.

    ``fun`` and ``constraint`` map (K, d) points to K values. Refinement: bounded Brent (1-D) or L-BFGS-B, or
    SLSQP when there is a constraint (SLSQP is what Busbridge et al. 2025 use for Eq. 28).
    """
    with _single_thread_blas():
        return _minimize_impl(fun, lo, hi, constraint, n_refine)


def _minimize_impl(
    fun: Vec, lo: list[float], hi: list[float], constraint: Vec | None, n_refine: int
) -> tuple[NDArray[np.float64], float]:
    d = len(lo)
    if d == 0:
        x0 = np.empty(0)
        return x0, float(fun(x0[None, :])[0])
    n = {1: 241, 2: 61, 3: 25}.get(d, 11)
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi, strict=True)]
    grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    values = fun(grid)
    if constraint is not None:
        values = np.where(constraint(grid) >= 0, values, np.inf)
    order = np.argsort(values)[:n_refine]
    best_x, best_f = grid[order[0]], float(values[order[0]])
    if not math.isfinite(best_f):  # nothing satisfies the constraint
        return best_x, best_f
    step = [(b - a) / (n - 1) for a, b in zip(lo, hi, strict=True)]
    bounds = list(zip(lo, hi, strict=True))
    for i in order:
        x0 = grid[i]
        if not math.isfinite(values[i]):
            continue
        if constraint is not None:
            res = minimize(lambda x: float(fun(x[None, :])[0]), x0, method="SLSQP", bounds=bounds,
                           constraints=[{"type": "ineq", "fun": lambda x: float(constraint(x[None, :])[0])}],
                           options={"ftol": 1e-14, "maxiter": 500})
            x = np.clip(np.asarray(res.x), lo, hi)
            if constraint(x[None, :])[0] < -1e-9:
                continue
            f = float(fun(x[None, :])[0])
        elif d == 1:
            a = max(lo[0], x0[0] - step[0])
            b = min(hi[0], x0[0] + step[0])
            res = minimize_scalar(lambda x: float(fun(np.array([[x]]))[0]), bounds=(a, b), method="bounded",
                                  options={"xatol": 1e-10})
            x, f = np.array([res.x]), float(res.fun)
        else:
            res = minimize(lambda x: float(fun(x[None, :])[0]), x0, method="L-BFGS-B", bounds=bounds,
                           options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000})
            x, f = np.asarray(res.x), float(res.fun)
        if f < best_f:
            best_x, best_f = x, f
    return best_x, best_f


# -------------------------------------------------------------------------------------- supervised


def _log_tokens_per_param_ok(log_n: Any, d: Any, floor: float) -> Any:
    """>= 0 where D / N >= floor (in log10 units)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.maximum(d, 1e-300)) - log_n - math.log10(floor)


def _floor(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise DistilleryError(f"min_tokens_per_param: must be a finite number >= 0, got {value!r}")
    return v


def _supervised_notes(n: float, d: float, spec: float | tuple[float, float], floor: float) -> tuple[str, ...]:
    notes = []
    if floor > 0 and d / n < floor * (1 - 1e-6):
        notes.append(f"student sees {d / n:.3g} tokens/parameter (< {floor:g}): extrapolation")
    elif isinstance(spec, tuple) and floor > 0 and d / n < floor * (1 + 1e-3):
        notes.append(f"student size limited by the {floor:g} tokens/parameter floor")
    if isinstance(spec, tuple) and n >= spec[1] * (1 - 1e-6):
        notes.append("student size at the top of its range")
    if isinstance(spec, tuple) and n <= spec[0] * (1 + 1e-6):
        notes.append("student size at the bottom of its range")
    return tuple(notes)


def optimal_supervised(C: float, student_params: SizeSpec = None, laws: ScalingLaws | None = None,
                       min_tokens_per_param: float = MIN_TOKENS_PER_PARAM) -> SupervisedPlan:
    """The supervised optimum for budget ``C = 3 F(N) D``: ``argmin_N L(N, C / (3 F(N)))``.

    Busbridge et al. 2025 (arXiv 2502.08606), Eq. 1 with the compute of Eq. 9 (no teacher terms). With a
    fixed ``student_params`` only the tokens follow from the budget; with a range, sizes whose tokens per
    parameter would fall below ``min_tokens_per_param`` are excluded. With ``F = 2N`` the optimum scales as
    ``N* ∝ C^a``, ``a = beta/(alpha+beta)`` (Table 6).
    """
    laws = laws or ScalingLaws()
    c = _budget(C)
    spec = _spec(student_params, "student_params")
    floor = _floor(min_tokens_per_param)

    def tokens(n: Any) -> Any:
        return c / (3.0 * np.asarray(laws.flops(n)))

    if isinstance(spec, tuple):

        def fun(x: NDArray[np.float64]) -> NDArray[np.float64]:
            n = 10.0 ** x[:, 0]
            return np.asarray(_supervised_raw(n, tokens(n), laws.supervised), dtype=float)

        def cons(x: NDArray[np.float64]) -> NDArray[np.float64]:
            return _log_tokens_per_param_ok(x[:, 0], tokens(10.0 ** x[:, 0]), floor)

        lo, hi = [math.log10(spec[0])], [math.log10(spec[1])]
        x, f = _minimize(fun, lo, hi, cons if floor > 0 else None)
        if not math.isfinite(f):  # even the smallest size gets too few tokens: take it anyway
            x = np.array(lo)
        n = float(10.0 ** x[0])
    else:
        n = spec
    d = float(tokens(n))
    return SupervisedPlan(c, n, d, float(_supervised_raw(n, d, laws.supervised)), _supervised_notes(n, d, spec, floor))


# ------------------------------------------------------------------------------------ distillation


class _Problem:
    """The compute-optimal distillation problem (Eq. 28) with the budget constraint eliminated."""

    def __init__(self, C: float, scenario: Scenario, student_params: SizeSpec, teacher_params: SizeSpec,
                 teacher_tokens: float | None, teacher_loss: float | None, laws: ScalingLaws,
                 min_tokens_per_param: float) -> None:
        self.C, self.scenario, self.laws = C, scenario, laws
        self.floor = _floor(min_tokens_per_param)
        self.names: list[str] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.student = _spec(student_params, "student_params")
        self.teacher_loss = None if teacher_loss is None else _spec(teacher_loss, "teacher_loss")
        self.teacher_tokens = None if teacher_tokens is None else _spec(teacher_tokens, "teacher_tokens")
        if isinstance(self.teacher_tokens, tuple):
            raise DistilleryError("teacher_tokens: give one number (or nothing, to optimise them)")
        needs_size = scenario.delta_logits or scenario.delta_pretrain
        if self.teacher_loss is not None:
            if isinstance(self.teacher_loss, tuple):
                raise DistilleryError("teacher_loss: give one number")
            if teacher_params is None and needs_size:
                raise DistilleryError(
                    f"teacher_params: scenario {scenario.value} pays for the teacher, so a teacher given by "
                    "its loss also needs its size"
                )
            if scenario.delta_pretrain and self.teacher_tokens is None:
                raise DistilleryError(
                    f"teacher_tokens: scenario {scenario.value} pays the teacher's pre-training, so a "
                    "teacher given by its loss also needs its training tokens"
                )
        if teacher_params is None and self.teacher_loss is not None:
            self.teacher: float | tuple[float, float] | None = None
        else:
            self.teacher = _spec(teacher_params, "teacher_params")
        if self.teacher_loss is not None and isinstance(self.teacher, tuple):
            raise DistilleryError("teacher_params: a teacher given by its loss needs one size, not a range")
        if isinstance(self.student, tuple):
            self._var("log_ns", self.student)
        if isinstance(self.teacher, tuple):
            self._var("log_nt", self.teacher)
        if self.teacher_loss is None and self.teacher_tokens is None:
            if scenario.delta_pretrain:
                self.names.append("logit_u")
                self.lo.append(-_LOGIT_MAX)
                self.hi.append(_LOGIT_MAX)
            else:
                self._var("log_dt", BOUNDS)

    def _var(self, name: str, rng: tuple[float, float]) -> None:
        self.names.append(name)
        self.lo.append(math.log10(rng[0]))
        self.hi.append(math.log10(rng[1]))

    def decode(self, X: NDArray[np.float64]) -> dict[str, Any]:
        cols = {name: X[:, i] for i, name in enumerate(self.names)}
        k = X.shape[0]
        f = self.laws.flops
        if "log_ns" in cols:
            ns = 10.0 ** cols["log_ns"]
        else:
            ns = np.full(k, float(self.student))  # type: ignore[arg-type]
        nt: Any
        if "log_nt" in cols:
            nt = 10.0 ** cols["log_nt"]
        elif self.teacher is not None:
            nt = np.full(k, float(self.teacher))  # type: ignore[arg-type]
        else:
            nt = None
        sc = self.scenario
        f_s = 3.0 * np.asarray(f(ns))
        f_t = np.asarray(f(nt)) if nt is not None else np.zeros(k)
        if "logit_u" in cols:
            u = 1.0 / (1.0 + np.exp(-cols["logit_u"]))
            pre = u * self.C
            dt = pre / (3.0 * f_t)
        elif "log_dt" in cols:
            dt = 10.0 ** cols["log_dt"]
            pre = sc.delta_pretrain * 3.0 * f_t * dt
        elif self.teacher_tokens is not None:
            dt = np.full(k, float(self.teacher_tokens))  # type: ignore[arg-type]
            pre = sc.delta_pretrain * 3.0 * f_t * dt
        else:
            dt = None
            pre = np.zeros(k)
        ds = (self.C - pre) / (f_s + sc.delta_logits * f_t)
        feasible = ds > 0
        ds_safe = np.where(feasible, ds, 1.0)
        if self.teacher_loss is not None:
            lt = np.full(k, float(self.teacher_loss))  # type: ignore[arg-type]
        else:
            lt = np.asarray(_supervised_raw(nt, dt, self.laws.supervised))
        return {"ns": ns, "ds": ds_safe, "nt": nt, "dt": dt, "lt": lt, "pre": pre, "feasible": feasible,
                "logits": sc.delta_logits * f_t * ds_safe, "student": f_s * ds_safe}

    def loss(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        v = self.decode(X)
        ls = _distillation_raw(v["ns"], v["ds"], v["lt"], self.laws.supervised, self.laws.distillation)
        return np.where(v["feasible"], ls, _INFEASIBLE)

    def constraint(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        v = self.decode(X)
        ok = _log_tokens_per_param_ok(np.log10(v["ns"]), v["ds"], self.floor)
        return np.where(v["feasible"], ok, -1.0)

    def solve(self) -> DistillationPlan:
        cons = self.constraint if (isinstance(self.student, tuple) and self.floor > 0) else None
        x, f = _minimize(self.loss, self.lo, self.hi, cons)
        if not math.isfinite(f):  # no point meets the tokens-per-parameter floor: drop it
            x, f = _minimize(self.loss, self.lo, self.hi, None)
        v = {k: (None if a is None else float(np.asarray(a)[0])) for k, a in self.decode(x[None, :]).items()}
        feasible = bool(v["feasible"])
        ns, ds = v["ns"], v["ds"]
        assert ns is not None and ds is not None
        ls = float(_distillation_raw(ns, ds, v["lt"], self.laws.supervised, self.laws.distillation))
        lsup = float(_supervised_raw(ns, ds, self.laws.supervised))
        notes = list(_supervised_notes(ns, ds, self.student, self.floor)) if feasible else []
        if not feasible:
            notes.append("the budget does not cover the teacher's pre-training")
        if isinstance(self.teacher, tuple) and v["nt"] is not None:
            if v["nt"] >= self.teacher[1] * (1 - 1e-6):
                notes.append("teacher size at the top of its range")
        if "log_dt" in self.names and v["dt"] is not None and v["dt"] >= BOUNDS[1] * (1 - 1e-6):
            notes.append(f"teacher tokens at the {BOUNDS[1]:.0e} bound (an over-trained teacher)")
        if self.scenario is Scenario.BEST_CASE and ("log_nt" in self.names or "log_dt" in self.names):
            notes.append("best case: only the teacher's loss matters, any teacher reaching it will do")
        return DistillationPlan(
            compute=self.C,
            scenario=self.scenario,
            student_params=ns,
            student_tokens=ds if feasible else 0.0,
            teacher_params=v["nt"],
            teacher_tokens=v["dt"],
            teacher_loss=float(v["lt"]),  # type: ignore[arg-type]
            student_loss=ls if feasible else math.inf,
            student_supervised_loss=lsup if feasible else math.inf,
            compute_student=v["student"] if feasible else 0.0,  # type: ignore[arg-type]
            compute_teacher_logits=v["logits"] if feasible else 0.0,  # type: ignore[arg-type]
            compute_teacher_pretraining=v["pre"],  # type: ignore[arg-type]
            feasible=feasible,
            notes=tuple(notes),
        )


def optimal_distillation(C: float, scenario: Scenario | str = Scenario.TEACHER_INFERENCE,
                         student_params: SizeSpec = None, teacher_params: SizeSpec = None,
                         teacher_tokens: float | None = None, teacher_loss: float | None = None,
                         laws: ScalingLaws | None = None,
                         min_tokens_per_param: float = MIN_TOKENS_PER_PARAM) -> DistillationPlan:
    """Compute-optimal distillation for total budget ``C`` (Busbridge et al. 2025, arXiv 2502.08606, Eq. 28).

    Minimises the student loss of Eq. 8 over the free quantities: student size (if a range), teacher size
    (if a range or ``None``), teacher tokens (if not given) and, implicitly, student tokens (what the budget
    of Eq. 9 leaves, Eq. 27). The teacher is fixed by ``teacher_loss`` (its measured loss; its size is then
    needed only when the scenario pays for it) or by ``teacher_params`` and ``teacher_tokens`` (loss from
    Eq. 1). In the teacher-trained scenarios free teacher tokens are paid from ``C``; otherwise they are
    free and optimised in ``[1e6, 1e17]`` (the paper finds them at the upper bound: an over-trained teacher).
    A free student size is kept where it sees at least ``min_tokens_per_param`` tokens per parameter.
    """
    problem = _Problem(_budget(C), Scenario.parse(scenario), student_params, teacher_params, teacher_tokens,
                       teacher_loss, laws or ScalingLaws(), min_tokens_per_param)
    return problem.solve()


# ------------------------------------------------------------------------------- verdict, crossover


def _margin(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not 0 <= v < 1:
        raise DistilleryError(f"margin: a relative loss difference in [0, 1), got {value!r}")
    return v


def _verdict(distill: DistillationPlan, sup: SupervisedPlan, margin: float) -> str:
    return "distill" if distill.student_loss < (1.0 - margin) * sup.student_loss else "train supervised"


def crossover_compute(scenario: Scenario | str = Scenario.TEACHER_INFERENCE, student_params: SizeSpec = None,
                      teacher_params: SizeSpec = None, teacher_tokens: float | None = None,
                      teacher_loss: float | None = None, laws: ScalingLaws | None = None,
                      compute_range: tuple[float, float] = COMPUTE_RANGE,
                      min_tokens_per_param: float = MIN_TOKENS_PER_PARAM, margin: float = MARGIN,
                      n_grid: int = 25) -> float | None:
    """The budget above which supervised training beats distillation (Busbridge et al. 2025, Sec. 5).

    The paper: distillation outperforms supervised learning "up to a compute level that scales predictably
    with student size" when the teacher exists or is shared, and "supervised learning always outperforms
    distillation given enough student compute". Scans ``compute_range`` (log grid, then Brent's method) for
    the largest budget where the distilled student's optimal loss crosses ``(1 - margin)`` times the
    supervised one from below (``margin=0``: equal losses, the paper's definition; see :data:`MARGIN`).
    The scan starts where a supervised student of the (smallest allowed) size sees ``min_tokens_per_param``
    tokens per parameter (below that the laws are extrapolated far from their data).
    Returns ``None`` if distillation never wins in the range and ``math.inf`` if it wins everywhere in it.
    """
    laws = laws or ScalingLaws()
    sc = Scenario.parse(scenario)
    m = _margin(margin)
    lo, hi = _budget(compute_range[0]), _budget(compute_range[1])
    if hi <= lo:
        raise DistilleryError(f"compute_range: need low < high, got {compute_range!r}")
    spec = _spec(student_params, "student_params")
    if min_tokens_per_param > 0:  # start where the smallest allowed student reaches the floor
        n_min = spec[0] if isinstance(spec, tuple) else spec
        lo = max(lo, float(3.0 * laws.flops(n_min) * min_tokens_per_param * n_min))
        if lo >= hi:
            return None

    def gap(log_c: float) -> float:
        c = 10.0**log_c
        kw = {"laws": laws, "min_tokens_per_param": min_tokens_per_param}
        d = optimal_distillation(c, sc, student_params, teacher_params, teacher_tokens, teacher_loss, **kw)
        s = optimal_supervised(c, student_params, **kw)
        # infeasible plans (loss inf) count as "supervised wins"
        return min(d.student_loss, 100.0) - (1.0 - m) * s.student_loss

    xs = np.linspace(math.log10(lo), math.log10(hi), n_grid)
    gs = np.array([gap(x) for x in xs])
    wins = gs < 0
    if not wins.any():
        return None
    if wins[-1]:
        return math.inf
    i = int(np.nonzero(wins[:-1] & ~wins[1:])[0][-1])  # the last change from "distill" to "supervised"
    root = brentq(gap, xs[i], xs[i + 1], xtol=1e-10)
    return float(10.0**root)


def compare(C: float, scenario: Scenario | str = Scenario.TEACHER_INFERENCE, student_params: SizeSpec = None,
            teacher_params: SizeSpec = None, teacher_tokens: float | None = None, teacher_loss: float | None = None,
            laws: ScalingLaws | None = None, with_crossover: bool = True,
            compute_range: tuple[float, float] = COMPUTE_RANGE, min_tokens_per_param: float = MIN_TOKENS_PER_PARAM,
            margin: float = MARGIN) -> Comparison:
    """Distill or train supervised for budget ``C``: both optima, the verdict and the crossover compute.

    Busbridge et al. 2025 (arXiv 2502.08606), Sec. 5: both students get the same total budget (Eq. 9, the
    scenario decides which teacher costs count) and the same student-size constraint. ``margin``: see
    :data:`MARGIN`.
    """
    laws = laws or ScalingLaws()
    m = _margin(margin)
    kw = {"laws": laws, "min_tokens_per_param": min_tokens_per_param}
    d = optimal_distillation(C, scenario, student_params, teacher_params, teacher_tokens, teacher_loss, **kw)
    s = optimal_supervised(C, student_params, **kw)
    cross = None
    if with_crossover:
        cross = crossover_compute(scenario, student_params, teacher_params, teacher_tokens, teacher_loss,
                                  compute_range=compute_range, margin=m, **kw)
    return Comparison(d, s, _verdict(d, s, m), cross, m)
