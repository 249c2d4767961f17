"""PNG plots of the planner: isoFLOP curves, student vs teacher loss, distillation's advantage vs compute.

The figures mirror those of Busbridge et al. 2025, "Distillation Scaling Laws", arXiv 2502.08606 (isoFLOP
profiles, Figs. 2-3; student loss against teacher loss, the capacity gap, Fig. 4; distillation vs supervised
at fixed student size, Sec. 5). They use matplotlib's object API (no pyplot, no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .laws import ScalingLaws, Scenario, _distillation_raw, _supervised_raw
from .optimal import (
    COMPUTE_RANGE,
    MARGIN,
    MIN_TOKENS_PER_PARAM,
    SizeSpec,
    crossover_compute,
    optimal_distillation,
    optimal_supervised,
)

__all__ = ["human", "plot_advantage", "plot_isoflops", "plot_student_vs_teacher"]

_COLORS = ["#1b5e9e", "#d9822b", "#2e8b57", "#b03a48", "#6a4c93", "#4d4d4d"]


def human(x: float | None, unit: str = "") -> str:
    """``546M``, ``1.82B``, ``3e+21``-style short numbers for the planner's labels and tables.

    (Parameter and token counts as in Busbridge et al. 2025, arXiv 2502.08606: N non-embedding parameters.)
    """
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞"
    a = abs(x)
    if 1e3 <= a < 1e15:
        for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
            if a >= div:
                return f"{x / div:.3g}{suffix}{unit}"
    return f"{x:.3g}{unit}"


def _save(fig: Figure, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=130, bbox_inches="tight")
    return p


def plot_isoflops(path: str | Path, budgets: Sequence[float], scenario: Scenario | str,
                  student_range: tuple[float, float], teacher_params: SizeSpec = None,
                  teacher_tokens: float | None = None, teacher_loss: float | None = None,
                  laws: ScalingLaws | None = None, n_points: int = 25,
                  min_tokens_per_param: float = MIN_TOKENS_PER_PARAM) -> Path:
    """IsoFLOP curves: predicted student loss vs student size at fixed total budgets (Busbridge et al. 2025,
    arXiv 2502.08606, Figs. 2-3 and Eq. 9). Solid: distilled (teacher chosen per the scenario); dashed:
    supervised with the same budget. Markers: each curve's minimum within the tokens-per-parameter floor.
    """
    laws = laws or ScalingLaws()
    sc = Scenario.parse(scenario)
    sizes = np.geomspace(student_range[0], student_range[1], n_points)
    fig = Figure(figsize=(7.5, 5.0))
    ax = fig.add_subplot()
    for k, c in enumerate(sorted(budgets)):
        color = _COLORS[k % len(_COLORS)]
        dist = [
            optimal_distillation(c, sc, float(n), teacher_params, teacher_tokens, teacher_loss, laws) for n in sizes
        ]
        ld = np.array([p.student_loss for p in dist])
        tokens = c / (3.0 * np.asarray(laws.flops(sizes)))
        ls = np.asarray(_supervised_raw(sizes, tokens, laws.supervised))
        ok_d = np.array([p.feasible for p in dist]) & (
            np.array([p.student_tokens for p in dist]) >= min_tokens_per_param * sizes
        )
        ok_s = tokens >= min_tokens_per_param * sizes
        ld_plot = np.where(np.isfinite(ld), ld, np.nan)
        # solid/dashed where the student sees enough tokens per parameter, faint where the laws extrapolate
        ax.plot(sizes, np.where(ok_d, ld_plot, np.nan), "-", color=color, label=f"C = {c:.0e} distilled")
        ls_ok = np.where(ok_s, ls, np.nan)
        ax.plot(sizes, ls_ok, "--", color=color, alpha=0.8, label=f"C = {c:.0e} supervised")
        ax.plot(sizes, ld_plot, "-", color=color, alpha=0.25, lw=0.8)
        ax.plot(sizes, ls, "--", color=color, alpha=0.25, lw=0.8)
        if ok_d.any():
            i = int(np.nanargmin(np.where(ok_d, ld, np.inf)))
            ax.plot(sizes[i], ld[i], "o", color=color, ms=6)
        if ok_s.any():
            j = int(np.argmin(np.where(ok_s, ls, np.inf)))
            ax.plot(sizes[j], ls[j], "s", mfc="white", color=color, ms=6)
    ax.set_xscale("log")
    ax.set_xlabel("student parameters $N_S$ (non-embedding)")
    ax.set_ylabel("predicted student cross-entropy (nats/token)")
    teacher = _teacher_label(teacher_params, teacher_tokens, teacher_loss)
    ax.set_title(f"IsoFLOP profiles, scenario {sc.value}\nteacher: {teacher}", fontsize=10)
    ax.set_ylim(ax.get_ylim()[0], min(ax.get_ylim()[1], 4.5))
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.text(
        0.01,
        -0.02,
        f"Busbridge et al. 2025 laws (Eqs. 1, 8, 9). Faint: the student sees < {min_tokens_per_param:g} "
        "tokens/parameter (extrapolation). Filled circle / open square: minimum of each curve outside it.",
        fontsize=7,
    )
    return _save(fig, path)


def _teacher_label(teacher_params: SizeSpec, teacher_tokens: float | None, teacher_loss: float | None) -> str:
    parts = []
    if isinstance(teacher_params, tuple):
        parts.append(f"N_T in [{human(teacher_params[0])}, {human(teacher_params[1])}] (optimised)")
    elif teacher_params is not None:
        parts.append(f"N_T = {human(teacher_params)}")
    if teacher_tokens is not None:
        parts.append(f"D_T = {human(teacher_tokens)}")
    if teacher_loss is not None:
        parts.append(f"L_T = {teacher_loss:.3f}")
    return ", ".join(parts) if parts else "size and tokens optimised"


def plot_student_vs_teacher(path: str | Path, student_sizes: Sequence[float], tokens_per_param: float = 20.0,
                            teacher_loss_range: tuple[float, float] | None = None, laws: ScalingLaws | None = None,
                            mark_teacher_loss: float | None = None) -> Path:
    """Student loss vs teacher loss at fixed student size and tokens (Busbridge et al. 2025, arXiv 2502.08606,
    Eq. 8 and Fig. 4): the capacity gap (a too-strong teacher makes a worse student) and ``L_S -> L_T`` for
    weak teachers. Dotted: the same student trained supervised, ``L(N_S, D_S)``. The default teacher-loss
    range reaches below every student's best teacher.
    """
    laws = laws or ScalingLaws()
    if teacher_loss_range is None:
        floor = laws.supervised.E + 0.02
        probe = np.linspace(floor, 4.0, 2000)
        best = []
        for n in student_sizes:
            curve = _distillation_raw(n, tokens_per_param * n, probe, laws.supervised, laws.distillation)
            best.append(probe[int(np.argmin(curve))])
        top = max(float(_supervised_raw(n, tokens_per_param * n, laws.supervised)) for n in student_sizes)
        teacher_loss_range = (max(floor, min(best) - 0.15), top + 0.6)
    lt = np.linspace(teacher_loss_range[0], teacher_loss_range[1], 400)
    fig = Figure(figsize=(7.0, 5.0))
    ax = fig.add_subplot()
    ax.plot(lt, lt, color="0.6", lw=0.8, label="$L_S = L_T$")
    lo_y, hi_y = math.inf, -math.inf
    for k, n in enumerate(sorted(student_sizes)):
        color = _COLORS[k % len(_COLORS)]
        d = tokens_per_param * n
        ls = np.asarray(_distillation_raw(n, d, lt, laws.supervised, laws.distillation))
        sup = float(_supervised_raw(n, d, laws.supervised))
        ax.plot(lt, ls, color=color, label=f"$N_S$ = {human(n)} distilled")
        ax.axhline(sup, color=color, ls=":", lw=1.2)
        i = int(np.argmin(ls))
        if 0 < i < len(lt) - 1:
            ax.plot(lt[i], ls[i], "o", color=color, ms=5)
        lo_y, hi_y = min(lo_y, float(ls.min()), sup), max(hi_y, sup)
    if mark_teacher_loss is not None:
        label = f"your teacher, $L_T$ = {mark_teacher_loss:.3f}"
        ax.axvline(mark_teacher_loss, color="k", ls="--", lw=0.8, label=label)
    ax.set_xlabel("teacher cross-entropy $L_T$")
    ax.set_ylabel("predicted student cross-entropy $L_S$")
    ax.set_ylim(lo_y - 0.1, hi_y + 0.35)
    ax.set_title(
        f"Student vs teacher loss, students trained on {tokens_per_param:g} tokens/parameter\n"
        "dotted: same student trained supervised; dot: best teacher (capacity gap)",
        fontsize=10,
    )
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def plot_advantage(path: str | Path, student_sizes: Sequence[float], scenario: Scenario | str,
                   teacher_params: SizeSpec = None, teacher_tokens: float | None = None,
                   teacher_loss: float | None = None, laws: ScalingLaws | None = None,
                   compute_range: tuple[float, float] = COMPUTE_RANGE, margin: float = MARGIN,
                   min_tokens_per_param: float = MIN_TOKENS_PER_PARAM, n_points: int = 25) -> Path:
    """Relative advantage ``L_distilled / L_supervised - 1`` vs total compute at fixed student sizes
    (Busbridge et al. 2025, arXiv 2502.08606, Sec. 5): below ``-margin`` the verdict is "distill"; the
    crossover compute (marked) is where the curve leaves that region.
    """
    laws = laws or ScalingLaws()
    sc = Scenario.parse(scenario)
    fig = Figure(figsize=(7.5, 5.0))
    ax = fig.add_subplot()
    budgets = np.geomspace(compute_range[0], compute_range[1], n_points)
    y_min = -100.0 * margin - 2.0
    for k, n in enumerate(sorted(student_sizes)):
        color = _COLORS[k % len(_COLORS)]
        c_min = float(3.0 * laws.flops(n) * min_tokens_per_param * n)
        cs = budgets[budgets >= c_min]
        if len(cs) == 0:
            continue
        rel = []
        for c in cs:
            d = optimal_distillation(c, sc, n, teacher_params, teacher_tokens, teacher_loss, laws)
            s = optimal_supervised(c, n, laws)
            rel.append(100.0 * (d.student_loss / s.student_loss - 1.0) if d.feasible else np.nan)
        y_min = min(y_min, float(np.nanmin(rel)) - 1.0)
        cross = crossover_compute(sc, n, teacher_params, teacher_tokens, teacher_loss, laws, compute_range,
                                  min_tokens_per_param, margin)
        if cross is None:
            where = "never"
        elif math.isfinite(cross):
            where = f"{cross:.2g} FLOPs"
            ax.plot(cross, -100.0 * margin, "o", color=color, ms=7)
        else:
            where = f"> {compute_range[1]:.0e}"
        ax.plot(cs, rel, "-", color=color, label=f"$N_S$ = {human(n)}, crossover: {where}")
    ax.axhspan(-100.0, -100.0 * margin, color="#2e8b57", alpha=0.07)
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.axhline(-100.0 * margin, color="#2e8b57", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(max(y_min, -60.0), max(ax.get_ylim()[1], 2.0))
    ax.set_xlabel("total compute C (FLOPs, Eq. 9)")
    ax.set_ylabel("distilled vs supervised loss (%)")
    teacher = _teacher_label(teacher_params, teacher_tokens, teacher_loss)
    ax.set_title(
        f"Distillation's advantage, scenario {sc.value}; teacher: {teacher}\n"
        f"shaded: verdict 'distill' (more than {100 * margin:g} % better); dots: crossover compute",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
