"""``distillery plan``: distill or train supervised? A planner on Busbridge et al. 2025's scaling laws.

The main CLI registers :func:`plan` with ``app.command("plan")(distillery.scaling.cli.plan)``.
Reference: D. Busbridge et al., "Distillation Scaling Laws", arXiv 2502.08606 (Eqs. 1, 8, 9, 28; Table 6).
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..errors import DistilleryError
from .fit import FitResult, fit_laws, read_runs
from .laws import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    ScalingLaws,
    Scenario,
    compute_optimal_exponents,
    forward_flops,
    forward_flops_2n,
    supervised_loss,
)
from .optimal import COMPUTE_RANGE, Comparison, compare
from .plots import human, plot_advantage, plot_isoflops, plot_student_vs_teacher

__all__ = ["PAPER_STUDENT_RANGE", "parse_quantity", "parse_sizes", "plan"]

PAPER_STUDENT_RANGE: tuple[float, float] = (143e6, 12.6e9)
"""Student sizes of Busbridge et al. 2025's runs ("143M to 12.6B parameters"): the default search range."""

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBgGtTpP]?)\s*$")
_SCENARIO_HELP = {Scenario.BEST_CASE: "teacher exists, its logits are free",
                  Scenario.TEACHER_INFERENCE: "teacher exists, its inference is paid",
                  Scenario.TEACHER_PRETRAINING: "teacher is trained, its logits are free (reused)",
                  Scenario.TEACHER_PRETRAINING_INFERENCE: "teacher is trained and its inference paid"}


def parse_quantity(text: str, option: str) -> float:
    """``"546M"``, ``"1.82B"``, ``"155e9"`` -> float (K, M, B/G, T, P suffixes); DistilleryError otherwise.

    Sizes and tokens as the planner of Busbridge et al. 2025 (arXiv 2502.08606) counts them.
    """
    m = _NUMBER.match(text)
    if not m:
        raise DistilleryError(f"{option}: cannot read {text!r} as a number (e.g. 546M, 1.8B, 2e21)")
    value = float(m.group(1)) * (_SUFFIXES[m.group(2).lower()] if m.group(2) else 1.0)
    if not math.isfinite(value) or value <= 0:
        raise DistilleryError(f"{option}: must be > 0, got {text!r}")
    return value


def parse_sizes(text: str, option: str) -> list[float] | tuple[float, float]:
    """``"546M"`` -> [546e6]; ``"143M,546M"`` -> a list; ``"100M:10B"`` -> a (low, high) range to optimise.

    A range is searched as in the compute-optimal problem of Busbridge et al. 2025 (arXiv 2502.08606, Eq. 28).
    """
    if ":" in text and "," in text:
        raise DistilleryError(f"{option}: give a list A,B,C or a range LOW:HIGH, not both ({text!r})")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 2:
            raise DistilleryError(f"{option}: a range is LOW:HIGH, got {text!r}")
        lo, hi = parse_quantity(parts[0], option), parse_quantity(parts[1], option)
        if hi <= lo:
            raise DistilleryError(f"{option}: range {text!r} needs LOW < HIGH")
        return (lo, hi)
    return [parse_quantity(p, option) for p in text.split(",")]


def _split(c: Comparison) -> str:
    d = c.distillation
    if not d.feasible:
        return "-"
    parts = [d.compute_student, d.compute_teacher_logits, d.compute_teacher_pretraining]
    return "/".join(f"{100 * x / d.compute:.0f}" for x in parts)


def _crossover_text(x: float | None) -> str:
    if x is None:
        return "never"
    if not math.isfinite(x):
        return f"> {COMPUTE_RANGE[1]:.0e}"
    return f"{x:.2e}"


def _fit_table(result: FitResult, paper: dict[str, float], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("coefficient", "fitted", f"{100 * result.level:.0f}% bootstrap interval", "paper (Table 6)"):
        table.add_column(col, justify="right" if col != "coefficient" else "left")
    for name, value in result.coefficients.as_dict().items():
        ci = result.intervals.get(name)
        ci_text = f"({ci[0]:.4g}, {ci[1]:.4g})" if ci else ("fixed" if name in result.fixed else "-")
        table.add_row(name, f"{value:.4g}", ci_text, f"{paper[name]:.4g}")
    return table


def plan(
    budget: Annotated[str, typer.Option("--budget", "-C", help="Total compute budget in FLOPs, e.g. 1e21.")],
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="Which teacher costs count: best-case (teacher exists, logits free), teacher-inference "
            "(teacher exists, inference paid), teacher-pretraining (teacher trained, logits reused), "
            "teacher-pretraining-inference (teacher trained for this one student).",
        ),
    ] = "teacher-inference",
    student_params: Annotated[
        str | None,
        typer.Option(
            "--student-params",
            "-s",
            help="Student size(s), non-embedding parameters: 546M | 143M,546M,1.8B (one row each) | "
            "100M:10B (optimise within). Default: the range of the runs behind the laws.",
        ),
    ] = None,
    teacher_params: Annotated[
        str | None,
        typer.Option("--teacher-params", "-t", help="Teacher size: 7.75B, or 1B:100B to optimise within."),
    ] = None,
    teacher_tokens: Annotated[
        str | None, typer.Option("--teacher-tokens", help="Tokens the teacher was (or will be) trained on.")
    ] = None,
    teacher_loss: Annotated[
        float | None,
        typer.Option("--teacher-loss", help="The existing teacher's measured cross-entropy (not Eq. 1)."),
    ] = None,
    fit: Annotated[
        list[Path] | None,
        typer.Option(
            "--fit",
            help="Fit the laws to finished runs first: a run directory with metrics.json (or a directory of "
            "them); repeat the option for more.",
        ),
    ] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for --fit.")] = 100,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for the PNG plots (none without it).")
    ] = None,
    flops: Annotated[
        str, typer.Option("--flops", help="Per-token FLOPs F(N): 'paper' (Eq. 69) or '2n' (the 6ND rule).")
    ] = "paper",
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context length in F(N) (paper: 4096).")] = 4096,
    n_vocab: Annotated[int, typer.Option("--n-vocab", help="Vocabulary in F(N) (paper: 32168).")] = 32168,
    margin: Annotated[
        float, typer.Option("--margin", help="Distill only if predicted >= this relative gain (0.01 = 1 %).")
    ] = 0.01,
    min_tokens_per_param: Annotated[
        float,
        typer.Option("--min-tokens-per-param", help="Floor on a free-sized student's tokens per parameter."),
    ] = 1.0,
    crossover: Annotated[
        bool, typer.Option("--crossover/--no-crossover", help="Compute the crossover budget (slower).")
    ] = True,
) -> None:
    """Distill or train supervised? Compute-optimal plans from Busbridge et al. 2025's scaling laws.

    Laws: Eqs. 1 and 8 with Table 6 coefficients (or fitted to --fit runs); compute: Eq. 9; allocation: Eq. 28
    (arXiv 2502.08606).
    """
    c = parse_quantity(budget, "--budget")
    sc = Scenario.parse(scenario)
    if flops.lower() not in ("paper", "2n"):
        raise DistilleryError(f"--flops: choose 'paper' or '2n', got {flops!r}")
    if n_ctx <= 0 or n_vocab <= 0:
        raise DistilleryError("--n-ctx/--n-vocab: must be > 0")
    if bootstrap < 0:
        raise DistilleryError(f"--bootstrap: must be >= 0, got {bootstrap}")
    flops_fn = (
        forward_flops_2n if flops.lower() == "2n" else functools.partial(forward_flops, n_ctx=n_ctx, n_vocab=n_vocab)
    )
    laws = ScalingLaws(flops=flops_fn)
    console = Console() if Console().is_terminal else Console(width=160)
    source = "of Table 6"
    default_range = PAPER_STUDENT_RANGE

    if fit:
        runs = read_runs(fit)
        laws, sup_fit, dist_fit = fit_laws(runs, bootstrap=bootstrap, base=laws)
        n_sup = sup_fit.n_runs
        n_dist = dist_fit.n_runs if dist_fit else 0
        source = f"fitted to {n_sup} supervised + {n_dist} distillation runs"
        sizes = [r.student_params for r in runs]
        default_range = (min(sizes), max(sizes)) if max(sizes) > min(sizes) else PAPER_STUDENT_RANGE
        console.print(_fit_table(sup_fit, PAPER_SUPERVISED.as_dict(), "Supervised law L(N, D) (Eq. 1)"))
        err = sup_fit.relative_error(runs, laws)
        console.print(f"  mean |relative error| on the supervised runs: {100 * abs(err).mean():.2f} %")
        if dist_fit is not None:
            console.print(_fit_table(dist_fit, PAPER_DISTILLATION.as_dict(), "Distillation law L_S (Eq. 8)"))
            err = dist_fit.relative_error(runs, laws)
            console.print(f"  mean |relative error| on the distillation runs: {100 * abs(err).mean():.2f} %")
        else:
            console.print("  no distillation runs: the paper's distillation coefficients are kept")

    students = parse_sizes(student_params, "--student-params") if student_params else default_range
    teacher: float | tuple[float, float] | None = None
    if teacher_params:
        parsed = parse_sizes(teacher_params, "--teacher-params")
        if isinstance(parsed, list) and len(parsed) != 1:
            raise DistilleryError("--teacher-params: give one size or a LOW:HIGH range, not a list")
        teacher = parsed if isinstance(parsed, tuple) else parsed[0]
    t_tokens = parse_quantity(teacher_tokens, "--teacher-tokens") if teacher_tokens else None
    if teacher_loss is not None and (not math.isfinite(teacher_loss) or teacher_loss <= 0):
        raise DistilleryError(f"--teacher-loss: must be > 0, got {teacher_loss}")

    specs: list[float | tuple[float, float]] = list(students) if isinstance(students, list) else [students]
    comparisons = [
        compare(c, sc, spec, teacher, t_tokens, teacher_loss, laws, with_crossover=crossover,
                min_tokens_per_param=min_tokens_per_param, margin=margin)
        for spec in specs
    ]

    a, b = compute_optimal_exponents(laws.supervised)
    a2, b2 = compute_optimal_exponents(laws.distillation)
    table = Table(title=f"Plan for C = {c:.3g} FLOPs, scenario {sc.value} ({_SCENARIO_HELP[sc]})", title_justify="left")
    columns = ["student N_S", "D_S", "teacher N_T", "D_T", "L_T", "% C: S/lgt/T",
               "L_S distill", "superv. N / D", "L superv.", "verdict", "crossover C"]  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col in ("verdict", "student N_S") else "right", no_wrap=True)
    notes: list[str] = []
    for spec, comp in zip(specs, comparisons, strict=True):
        d, s = comp.distillation, comp.supervised
        label = human(d.student_params)
        if isinstance(spec, tuple):
            label += " (opt.)"
            notes.append(f"(opt.): student size optimised in {human(spec[0])}:{human(spec[1])}")
        table.add_row(label, human(d.student_tokens) if d.feasible else "infeasible", human(d.teacher_params),
                      human(d.teacher_tokens), f"{d.teacher_loss:.4f}", _split(comp),
                      f"{d.student_loss:.4f}" if d.feasible else "-",
                      f"{human(s.student_params)} / {human(s.student_tokens)}", f"{s.student_loss:.4f}",
                      f"[bold green]{comp.verdict}[/]" if comp.verdict == "distill" else f"[bold]{comp.verdict}[/]",
                      _crossover_text(comp.crossover) if crossover else "(skipped)")
        notes += [f"N_S {label}, distilled: {n}" for n in d.notes]
        notes += [f"N_S {label}, supervised: {n}" for n in s.notes]
    console.print(table)
    console.print(f"  laws: Busbridge et al. 2025 Eqs. 1 and 8, coefficients {source}")
    console.print(
        f"  verdict: 'distill' when the distilled loss is lower by more than {100 * margin:g} %; crossover: "
        "the budget above which that stops (distillation wins below it)."
    )
    console.print(
        f"  compute-optimal exponents (C = 6ND): supervised N ∝ C^{a:.4f}, D ∝ C^{b:.4f}; "
        f"distillation student term N ∝ C^{a2:.4f}, D ∝ C^{b2:.4f}"
    )
    for n in dict.fromkeys(notes):
        console.print(f"  note: {n}")

    if out is not None:
        rng = specs[0] if isinstance(specs[0], tuple) else (min(students) / 10, max(students) * 10)  # type: ignore[type-var]
        sizes = list(students) if isinstance(students, list) else _four(rng)
        mark: float | None = teacher_loss
        if mark is None and isinstance(teacher, float) and t_tokens is not None:
            mark = float(supervised_loss(teacher, t_tokens, laws.supervised))
        budgets = [c / 100, c / 10, c, c * 10]
        lo, hi = max(c / 1e4, COMPUTE_RANGE[0]), min(c * 1e4, COMPUTE_RANGE[1])
        paths = [
            plot_isoflops(out / f"planner_isoflops_{sc.value}.png", budgets, sc, rng, teacher, t_tokens, teacher_loss,
                          laws, min_tokens_per_param=min_tokens_per_param),
            plot_advantage(out / f"planner_advantage_{sc.value}.png", sizes, sc, teacher, t_tokens, teacher_loss, laws,
                           (lo, hi), margin, min_tokens_per_param),
            plot_student_vs_teacher(
                out / "planner_student_vs_teacher.png", sizes, laws=laws, mark_teacher_loss=mark
            ),
        ]  # fmt: skip
        for p in paths:
            console.print(f"  wrote {p}")


def _four(rng: tuple[float, float]) -> list[float]:
    lo, hi = math.log10(rng[0]), math.log10(rng[1])
    return [10 ** (lo + (hi - lo) * k / 3) for k in range(4)]
