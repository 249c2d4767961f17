"""Fit the supervised and distillation laws to your own finished runs.

Busbridge et al. 2025, "Distillation Scaling Laws", arXiv 2502.08606, App. F.2 (following Besiroglu et al.
2024): minimise the Huber loss (delta = 1e-4) of the residuals of the *log* loss with L-BFGS-B from a grid
of initialisations, in log-space parameters (``log A`` etc.; App. F's Eq. 44 has a typo, ``log A - alpha N``
must read ``log A - alpha log N``). Uncertainty: percentile bootstrap over runs (the paper reports 90 %
intervals from 4096 resamples; the default here is fewer).

What is read from a run
-----------------------
A run is a directory holding ``metrics.json`` whose ``"scaling"`` entry is::

    "scaling": {
        "student_params": N_S,      # non-embedding parameters of the trained model (> 0)
        "tokens": D_S,              # training tokens it saw (> 0)
        "student_loss": L_S,        # its final held-out cross-entropy, nats/token (> 0)
        "teacher_loss": L_T | null, # the teacher's cross-entropy on the same data; null = supervised run
        "teacher_params": N_T | null
    }

A run with ``teacher_loss`` null is a supervised run and fits ``L(N, D)`` (Eq. 1); the others fit the
distillation law (Eq. 8), whose ``L~_S`` uses the supervised law fitted on the same runs. ``teacher_params``
is recorded but not fitted: the teacher enters the law only through ``L_T``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from ..errors import DistilleryError
from .laws import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    DistillationCoefficients,
    ScalingLaws,
    SupervisedCoefficients,
    _distillation_raw,
    _single_thread_blas,
    _supervised_raw,
)

__all__ = ["DISTILLATION_FIXED", "HUBER_DELTA", "FitResult", "RunRecord", "fit_distillation", "fit_laws",
           "fit_supervised", "read_runs"]

HUBER_DELTA = 1e-4
"""Huber delta on log-loss residuals (Busbridge et al. 2025, arXiv 2502.08606, App. F.2)."""

DISTILLATION_FIXED: dict[str, float] = {"c1": PAPER_DISTILLATION.c1}
"""Coefficients :func:`fit_distillation` holds fixed by default: c1 is not identifiable from realistic runs
(Table 6's 90 % interval is the single value 522.6; in our recovery tests a free c1 drifts by factors of 2-15
while the fitted losses stay the same), and letting it drift also biases d1."""

_SCALING_KEYS = ("student_params", "tokens", "student_loss", "teacher_loss", "teacher_params")


@dataclass(frozen=True)
class RunRecord:
    """One finished run as the laws of Busbridge et al. 2025 (arXiv 2502.08606, Eqs. 1, 8) see it.

    See the module docstring for the metrics.json keys.
    """

    student_params: float
    tokens: float
    student_loss: float
    teacher_loss: float | None = None
    teacher_params: float | None = None
    path: str = ""

    @property
    def distilled(self) -> bool:
        """True for a distillation run (``teacher_loss`` given: fits Eq. 8), False for a supervised one (Eq. 1)."""
        return self.teacher_loss is not None


# ----------------------------------------------------------------------------------------- reading


def _number(value: Any, where: str, nullable: bool) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a number or null" if nullable else "a number"
        raise DistilleryError(f"{where}: must be {kind}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise DistilleryError(f"{where}: must be finite and > 0, got {value!r}")
    return v


def _read_one(metrics_path: Path) -> RunRecord:
    try:
        data = json.loads(metrics_path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise DistilleryError(f"{metrics_path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DistilleryError(f"{metrics_path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scaling"), dict):
        raise DistilleryError(
            f'{metrics_path}: no \'scaling\' object; expected "scaling": {{"student_params", "tokens", '
            '"student_loss", "teacher_loss" (or null), "teacher_params" (or null)}'
        )
    sc = data["scaling"]
    unknown = sorted(set(sc) - set(_SCALING_KEYS))
    if unknown:
        known = ", ".join(_SCALING_KEYS)
        raise DistilleryError(f"{metrics_path}: scaling.{unknown[0]}: unknown key; known: {known}")
    values: dict[str, float | None] = {}
    for key in _SCALING_KEYS:
        nullable = key in ("teacher_loss", "teacher_params")
        if key not in sc and not nullable:
            raise DistilleryError(f"{metrics_path}: scaling.{key}: missing")
        values[key] = _number(sc.get(key), f"{metrics_path}: scaling.{key}", nullable)
    return RunRecord(
        student_params=values["student_params"],  # type: ignore[arg-type]
        tokens=values["tokens"],  # type: ignore[arg-type]
        student_loss=values["student_loss"],  # type: ignore[arg-type]
        teacher_loss=values["teacher_loss"],
        teacher_params=values["teacher_params"],
        path=str(metrics_path.parent),
    )


def read_runs(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Read finished runs for fitting the laws of Busbridge et al. 2025 (arXiv 2502.08606, Eqs. 1 and 8).

    Each path is a run directory containing ``metrics.json`` (or that file itself), or a directory whose
    immediate subdirectories are run directories. Raises DistilleryError naming the file and key on bad input.
    """
    runs: list[RunRecord] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            runs.append(_read_one(p))
        elif (p / "metrics.json").is_file():
            runs.append(_read_one(p / "metrics.json"))
        elif p.is_dir():
            found = sorted(p.glob("*/metrics.json"))
            if not found:
                raise DistilleryError(f"{p}: no metrics.json in it or in its subdirectories")
            runs.extend(_read_one(f) for f in found)
        else:
            raise DistilleryError(f"{p}: no such run directory")
    return runs


# ---------------------------------------------------------------------------------------- objective


def _huber(r: NDArray[np.float64], delta: float) -> NDArray[np.float64]:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


# Each fitted parameter: (coefficient, "log" if fitted as its logarithm else "lin", bounds in that space).
_SUP_PARAMS: list[tuple[str, str, tuple[float, float]]] = [("E", "log", (-5.0, 3.0)), ("A", "log", (-10.0, 40.0)),
                                                           ("B", "log", (-10.0, 40.0)), ("alpha", "lin", (0.01, 3.0)),
                                                           ("beta", "lin", (0.01, 3.0)), ("gamma", "lin", (0.05, 3.0))]
_SUP_GRID: dict[str, list[float]] = {"E": [-1.0, -0.25, 0.25, 0.75], "A": [0.0, 5.0, 10.0, 15.0],
                                     "B": [0.0, 5.0, 10.0, 15.0], "alpha": [0.2, 0.5, 1.0], "beta": [0.2, 0.5, 1.0],
                                     "gamma": [0.3, 0.6, 1.0]}
_DIST_PARAMS: list[tuple[str, str, tuple[float, float]]] = [("A", "log", (-10.0, 40.0)), ("B", "log", (-10.0, 40.0)),
                                                            ("alpha", "lin", (0.01, 3.0)), ("beta", "lin", (0.01, 3.0)),
                                                            ("gamma", "lin", (0.05, 3.0)), ("c0", "lin", (-5.0, 10.0)),
                                                            ("c1", "log", (-5.0, 9.0)), ("f1", "log", (-6.0, 1.0)),
                                                            ("d1", "log", (-1.0, 1.5))]
_DIST_GRID: dict[str, list[float]] = {"A": [5.0, 10.0], "B": [5.0, 10.0], "alpha": [0.3, 0.6], "beta": [0.3, 0.6],
                                      "gamma": [0.5, 1.0], "c0": [1.0, 3.0], "c1": [math.log(10.0), math.log(500.0)],
                                      "f1": [math.log(0.05), math.log(0.3)], "d1": [0.0, math.log(1.5)]}


def _to_coef(kind: str, x: Any) -> Any:
    return np.exp(x) if kind == "log" else x


def _from_coef(kind: str, v: float) -> float:
    return math.log(v) if kind == "log" else v


def _log_pred_supervised(
    p: Mapping[str, Any], log_n: Any, log_d: Any, grad: bool = False
) -> tuple[Any, dict[str, Any]]:
    """log L(N, D) of Eq. 1 from log-space parameters, and its gradient (broadcasts over parameter sets)."""
    u, v = p["A"] - p["alpha"] * log_n, p["B"] - p["beta"] * log_d
    s = np.logaddexp(u, v)
    out = np.logaddexp(p["E"], p["gamma"] * s)
    if not grad:
        return out, {}
    w_e = np.exp(p["E"] - out)
    ds = (1.0 - w_e) * p["gamma"]
    w_a = np.exp(u - s)
    w_b = 1.0 - w_a
    return out, {"E": w_e, "A": ds * w_a, "B": ds * w_b, "alpha": -ds * w_a * log_n, "beta": -ds * w_b * log_d,
                 "gamma": (1.0 - w_e) * s}


def _sigmoid(z: Any) -> Any:
    return np.exp(-np.logaddexp(0.0, -z))


def _log_pred_distillation(
    p: Mapping[str, Any], log_n: Any, log_d: Any, log_lt: Any, log_lsup: Any, grad: bool = False
) -> tuple[Any, dict[str, Any]]:
    """log L_S of Eq. 8 from log-space parameters, and its gradient; ``log_lsup`` is log L~_S (Eq. 1)."""
    f1 = np.exp(p["f1"])
    c1f1 = np.exp(p["c1"] + p["f1"])
    z = (log_lt - log_lsup - p["d1"]) / f1
    sp = np.logaddexp(0.0, z)
    u, v = p["A"] - p["alpha"] * log_n, p["B"] - p["beta"] * log_d
    s = np.logaddexp(u, v)
    second = -p["c0"] * log_lt - c1f1 * sp + p["gamma"] * s
    out = np.logaddexp(log_lt, second)
    if not grad:
        return out, {}
    w = np.exp(second - out)
    sig = _sigmoid(z)
    w_a = np.exp(u - s)
    w_b = 1.0 - w_a
    g = w * p["gamma"]
    return out, {"A": g * w_a, "B": g * w_b, "alpha": -g * w_a * log_n, "beta": -g * w_b * log_d, "gamma": w * s,
                 "c0": -w * log_lt, "c1": -w * c1f1 * sp, "f1": -w * c1f1 * (sp - z * sig), "d1": w * c1f1 * sig / f1}


@dataclass(frozen=True)
class FitResult:
    """A fitted law (Busbridge et al. 2025, arXiv 2502.08606, App. F.2) with bootstrap uncertainty.

    ``intervals`` maps each fitted coefficient to its percentile interval at ``level`` (``{}`` without
    bootstrap); ``samples`` are the bootstrap coefficient sets; ``fixed`` names coefficients held fixed.
    """

    coefficients: SupervisedCoefficients | DistillationCoefficients
    n_runs: int
    objective: float
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: list[Any] = field(default_factory=list)
    fixed: tuple[str, ...] = ()
    level: float = 0.90

    def relative_error(self, runs: Sequence[RunRecord], laws: ScalingLaws) -> NDArray[np.float64]:
        """(predicted - observed) / observed loss for the runs of this fit's kind (Eq. 1 or Eq. 8)."""
        out = []
        for r in runs:
            if isinstance(self.coefficients, SupervisedCoefficients) and not r.distilled:
                pred = _supervised_raw(r.student_params, r.tokens, laws.supervised)
            elif isinstance(self.coefficients, DistillationCoefficients) and r.distilled:
                pred = _distillation_raw(r.student_params, r.tokens, r.teacher_loss, laws.supervised, laws.distillation)
            else:
                continue
            out.append(pred / r.student_loss - 1.0)
        return np.asarray(out, dtype=float)


class _Fitter:
    """Huber-on-log-loss fit with grid-screened multiple starts (shared by both laws)."""

    def __init__(self, spec: list[tuple[str, str, tuple[float, float]]], grid: Mapping[str, list[float]], log_pred: Any,
                 data: dict[str, NDArray[np.float64]], fixed: Mapping[str, float], delta: float) -> None:
        names = [s[0] for s in spec]
        bad = sorted(set(fixed) - set(names))
        if bad:
            known = ", ".join(names)
            raise DistilleryError(f"fit: cannot fix unknown coefficient {bad[0]!r}; known: {known}")
        self.spec = spec
        self.free = [s for s in spec if s[0] not in fixed]
        self.fixed = {name: _from_coef(kind, float(fixed[name])) for name, kind, _ in spec if name in fixed}
        self.grid = grid
        self.log_pred = log_pred
        self.data = data
        self.delta = delta
        self.nit = 0
        self.short_iter = 300

    def params(self, theta: NDArray[np.float64]) -> dict[str, Any]:
        p: dict[str, Any] = dict(self.fixed)
        for i, (name, _, _) in enumerate(self.free):
            p[name] = theta[..., i : i + 1] if theta.ndim > 1 else theta[i]
        return p

    def objective(self, theta: NDArray[np.float64], idx: NDArray[np.int64] | None = None, grad: bool = False) -> Any:
        d = self.data if idx is None else {k: v[idx] for k, v in self.data.items()}
        inputs = {k: v for k, v in d.items() if k != "log_l"}
        with np.errstate(invalid="ignore", over="ignore"):
            pred, g = self.log_pred(self.params(theta), grad=grad, **inputs)
            r = pred - d["log_l"]
            # scaled by 1/(n delta^2) so that L-BFGS-B's tolerances (relative to max(|f|, 1)) bite
            scale = 1.0 / (r.shape[-1] * self.delta**2)
            val = scale * _huber(r, self.delta).sum(axis=-1)
            if not grad:
                return np.where(np.isfinite(val), val, 1e30)
            dr = scale * np.clip(r, -self.delta, self.delta)
            jac = np.array([np.sum(dr * g[name]) for name, _, _ in self.free])
        if not (np.isfinite(val) and np.all(np.isfinite(jac))):
            return 1e30, np.zeros_like(theta)
        return float(val), jac

    def _local(
        self, x0: NDArray[np.float64], idx: NDArray[np.int64] | None, maxiter: int = 5000
    ) -> tuple[NDArray[np.float64], float]:
        res = minimize(lambda t: self.objective(t, idx, grad=True), x0, jac=True, method="L-BFGS-B",
                       bounds=[b for _, _, b in self.free],
                       options={"maxiter": maxiter, "maxfun": 4 * maxiter, "ftol": 1e-12, "gtol": 1e-9})
        self.nit += res.nit
        return np.asarray(res.x), float(res.fun)

    def run(self, n_starts: int) -> tuple[NDArray[np.float64], float]:
        with _single_thread_blas():
            return self._run(n_starts)

    def _run(self, n_starts: int) -> tuple[NDArray[np.float64], float]:
        axes = [self.grid[name] for name, _, _ in self.free]
        starts = np.array(list(product(*axes)), dtype=float)
        screen = self.objective(starts)
        best_x, best_f = starts[0], math.inf
        # short runs from the best starts, then a full run from the best of them
        for i in np.argsort(screen)[:n_starts]:
            x, f = self._local(starts[i], None, maxiter=self.short_iter)
            if f < best_f:
                best_x, best_f = x, f
        x, f = self._local(best_x, None)
        if f < best_f:
            best_x, best_f = x, f
        return best_x, best_f

    def bootstrap(self, theta: NDArray[np.float64], n: int, rng: np.random.Generator) -> list[NDArray[np.float64]]:
        m = len(self.data["log_l"])
        with _single_thread_blas():
            return [self._local(theta, rng.integers(0, m, size=m))[0] for _ in range(n)]

    def coefficients(self, theta: NDArray[np.float64]) -> dict[str, float]:
        p = self.params(theta)
        return {name: float(_to_coef(kind, p[name])) for name, kind, _ in self.spec}


def _intervals(samples: list[dict[str, float]], names: Iterable[str], level: float) -> dict[str, tuple[float, float]]:
    if not samples:
        return {}
    lo_q, hi_q = 50 * (1 - level), 50 * (1 + level)
    out = {}
    for name in names:
        vals = np.array([s[name] for s in samples])
        out[name] = (float(np.percentile(vals, lo_q)), float(np.percentile(vals, hi_q)))
    return out


def _check_count(n: int, n_free: int, kind: str) -> None:
    if n <= n_free:
        raise DistilleryError(
            f"fit: {n} {kind} run(s) cannot determine {n_free} free coefficients; need at least {n_free + 1} "
            "(or fix some coefficients)"
        )


def _fit_and_bootstrap(fitter: _Fitter, coef_cls: type, n_runs: int, n_starts: int, bootstrap: int, seed: int,
                       level: float, fixed: Mapping[str, float]) -> FitResult:
    """Multi-start fit, then bootstrap resamples for the intervals (shared by both laws)."""
    theta, obj = fitter.run(n_starts)
    coefs = fitter.coefficients(theta)
    rng = np.random.default_rng(seed)
    samples = [fitter.coefficients(t) for t in fitter.bootstrap(theta, bootstrap, rng)]
    free = [s[0] for s in fitter.free]
    return FitResult(coef_cls(**coefs), n_runs, obj, _intervals(samples, free, level),
                     [coef_cls(**s) for s in samples], tuple(sorted(fixed)), level)


def fit_supervised(runs: Sequence[RunRecord], *, n_starts: int = 6, bootstrap: int = 0, level: float = 0.90,
                   seed: int = 0, fixed: Mapping[str, float] | None = None,
                   huber_delta: float = HUBER_DELTA) -> FitResult:
    """Fit ``L(N, D) = E + (A/N^alpha + B/D^beta)^gamma`` (Eq. 1) to the supervised runs.

    Busbridge et al. 2025 (arXiv 2502.08606), App. F.2: Huber (delta 1e-4) on log-loss residuals, L-BFGS-B
    from the best ``n_starts`` points of a grid of initialisations; ``bootstrap`` resamples (of runs, with
    replacement, refitted from the optimum) give percentile intervals at ``level``. Distillation runs in
    ``runs`` are ignored; ``fixed`` holds named coefficients at given values.
    """
    sup = [r for r in runs if not r.distilled]
    fixed = dict(fixed or {})
    fitter = _Fitter(
        _SUP_PARAMS,
        _SUP_GRID,
        _log_pred_supervised,
        {"log_n": np.log([r.student_params for r in sup]), "log_d": np.log([r.tokens for r in sup]),
         "log_l": np.log([r.student_loss for r in sup])},
        fixed,
        huber_delta,
    )
    _check_count(len(sup), len(fitter.free), "supervised")
    return _fit_and_bootstrap(fitter, SupervisedCoefficients, len(sup), n_starts, bootstrap, seed, level, fixed)


def fit_distillation(runs: Sequence[RunRecord], supervised: SupervisedCoefficients = PAPER_SUPERVISED, *,
                     n_starts: int = 6, bootstrap: int = 0, level: float = 0.90, seed: int = 0,
                     fixed: Mapping[str, float] | None = None, huber_delta: float = HUBER_DELTA) -> FitResult:
    """Fit the distillation law (Eq. 8) to the distillation runs, given the supervised law for ``L~_S``.

    Busbridge et al. 2025 (arXiv 2502.08606), App. F.2, as :func:`fit_supervised`. The broken-power-law
    coefficients ``c1, f1, d1`` are only weakly identified (Table 6's c1 interval is degenerate): far from the
    transition ``L_T = d1 L~_S`` only combinations of them matter. ``fixed=None`` therefore holds ``c1`` at
    Table 6's value (:data:`DISTILLATION_FIXED`); pass ``fixed={}`` to fit all nine coefficients.
    """
    dist = [r for r in runs if r.distilled]
    fixed = dict(DISTILLATION_FIXED if fixed is None else fixed)
    n = np.array([r.student_params for r in dist], dtype=float)
    d = np.array([r.tokens for r in dist], dtype=float)
    fitter = _Fitter(
        _DIST_PARAMS,
        _DIST_GRID,
        _log_pred_distillation,
        {"log_n": np.log(n), "log_d": np.log(d), "log_lt": np.log([r.teacher_loss for r in dist]),
         "log_lsup": np.log(_supervised_raw(n, d, supervised)) if len(dist) else np.empty(0),
         "log_l": np.log([r.student_loss for r in dist])},
        fixed,
        huber_delta,
    )
    _check_count(len(dist), len(fitter.free), "distillation")
    return _fit_and_bootstrap(fitter, DistillationCoefficients, len(dist), n_starts, bootstrap, seed, level, fixed)


def fit_laws(runs: Sequence[RunRecord], *, bootstrap: int = 0, seed: int = 0,
             fixed_supervised: Mapping[str, float] | None = None, fixed_distillation: Mapping[str, float] | None = None,
             base: ScalingLaws | None = None) -> tuple[ScalingLaws, FitResult, FitResult | None]:
    """Fit both laws of Busbridge et al. 2025 (arXiv 2502.08606) to runs and return laws to re-plan with.

    ``fixed_distillation=None`` holds c1 fixed (see :func:`fit_distillation`).

    The supervised law (Eq. 1) is fitted on the supervised runs, then the distillation law (Eq. 8) on the
    distillation runs using that fitted supervised law for ``L~_S``. Without distillation runs the paper's
    distillation coefficients are kept (and the returned distillation fit is ``None``). ``F(N)`` comes from
    ``base``.
    """
    base = base or ScalingLaws()
    if not runs:
        raise DistilleryError("fit: no runs given")
    if all(r.distilled for r in runs):
        raise DistilleryError(
            "fit: no supervised runs (scaling.teacher_loss null); the distillation law needs the supervised law "
            "L(N, D) fitted on the same setting"
        )
    sup_fit = fit_supervised(runs, bootstrap=bootstrap, seed=seed, fixed=fixed_supervised)
    sup = sup_fit.coefficients
    assert isinstance(sup, SupervisedCoefficients)
    dist_fit = None
    dist = base.distillation
    if any(r.distilled for r in runs):
        dist_fit = fit_distillation(runs, sup, bootstrap=bootstrap, seed=seed, fixed=fixed_distillation)
        assert isinstance(dist_fit.coefficients, DistillationCoefficients)
        dist = dist_fit.coefficients
    return ScalingLaws(sup, dist, base.flops), sup_fit, dist_fit
