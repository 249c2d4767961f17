"""Compute-optimal allocation, verdict and crossover (Busbridge et al. 2025, arXiv 2502.08606, Sec. 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distillery.errors import DistilleryError
from distillery.scaling import (
    Scenario,
    compare,
    crossover_compute,
    distillation_loss,
    forward_flops,
    optimal_distillation,
    optimal_supervised,
    supervised_loss,
    total_compute,
)

N_T, D_T = 7.75e9, 20 * 7.75e9  # an existing teacher: 7.75B trained on 20 tokens/parameter (L_T = 2.0036)


def test_supervised_fixed_size_spends_the_budget() -> None:
    p = optimal_supervised(1e21, 546e6)
    assert p.student_tokens == pytest.approx(1e21 / (3 * forward_flops(546e6)))
    assert p.student_loss == pytest.approx(supervised_loss(546e6, p.student_tokens))


def test_supervised_range_optimum_is_a_minimum() -> None:
    p = optimal_supervised(1e21, (1e8, 1e11))
    for factor in (0.9, 1.1):
        n = p.student_params * factor
        assert supervised_loss(n, 1e21 / (3 * forward_flops(n))) > p.student_loss
    # a range that excludes the free optimum ends at its edge
    q = optimal_supervised(1e21, (1e8, 1e9))
    assert q.student_params == pytest.approx(1e9, rel=1e-6)
    assert any("top of its range" in n for n in q.notes)


def test_existing_teacher_allocations() -> None:
    c, ns = 1e21, 546e6
    best = optimal_distillation(c, "best-case", ns, N_T, D_T)
    assert best.student_tokens == pytest.approx(c / (3 * forward_flops(ns)))
    assert best.teacher_loss == pytest.approx(supervised_loss(N_T, D_T))
    inf = optimal_distillation(c, "teacher-inference", ns, N_T, D_T)
    assert inf.student_tokens == pytest.approx(c / (3 * forward_flops(ns) + forward_flops(N_T)))
    assert inf.compute_student + inf.compute_teacher_logits == pytest.approx(c)
    assert inf.student_loss == pytest.approx(distillation_loss(ns, inf.student_tokens, inf.teacher_loss))
    # a measured teacher loss overrides Eq. 1
    given = optimal_distillation(c, "teacher-inference", ns, N_T, teacher_loss=2.2)
    assert given.teacher_loss == 2.2


@pytest.mark.parametrize("scenario", ["teacher-pretraining", "teacher-pretraining-inference"])
def test_trained_teacher_spends_exactly_the_budget_and_is_optimal(scenario: str) -> None:
    c, ns = 1e21, 1.82e9
    p = optimal_distillation(c, scenario, ns)
    assert p.teacher_params is not None and p.teacher_tokens is not None
    used = total_compute(ns, p.student_tokens, p.teacher_params, p.teacher_tokens, scenario)
    assert used == pytest.approx(c, rel=1e-9)
    split = p.compute_student + p.compute_teacher_logits + p.compute_teacher_pretraining
    assert split == pytest.approx(c, rel=1e-9)
    # no random feasible allocation does better
    rng = np.random.default_rng(0)
    sc = Scenario.parse(scenario)
    for _ in range(300):
        nt = 10 ** rng.uniform(7, 12)
        u = rng.uniform(0.01, 0.99)
        dt = u * c / (3 * forward_flops(nt))
        ds = (1 - u) * c / (3 * forward_flops(ns) + sc.delta_logits * forward_flops(nt))
        assert distillation_loss(ns, ds, supervised_loss(nt, dt)) >= p.student_loss - 1e-9


def test_teacher_inference_overtrains_the_teacher() -> None:
    # Sec. 5.3: with teacher inference paid and pre-training free, D_T* sits at the optimiser's bound
    p = optimal_distillation(1e21, "teacher-inference", 1.82e9)
    assert p.teacher_tokens == pytest.approx(1e17, rel=1e-3)
    assert any("over-trained" in n for n in p.notes)


def test_free_student_respects_the_tokens_per_parameter_floor() -> None:
    p = optimal_distillation(1e21, "teacher-inference", (1e8, 1e12), N_T, D_T)
    assert p.student_tokens >= p.student_params * (1 - 1e-6)
    unconstrained = optimal_distillation(1e21, "teacher-inference", (1e8, 1e12), N_T, D_T, min_tokens_per_param=0)
    assert unconstrained.student_loss <= p.student_loss


def test_teacher_exists_distill_below_the_crossover() -> None:
    # Paper: with an existing teacher distillation beats supervised learning up to a compute level that
    # grows with student size; above it, supervised learning wins.
    crossovers = []
    for ns in (546e6, 1.82e9):
        x = crossover_compute("teacher-inference", ns, N_T, D_T)
        assert x is not None and math.isfinite(x)
        assert compare(x / 10, "teacher-inference", ns, N_T, D_T, with_crossover=False).verdict == "distill"
        assert compare(x * 10, "teacher-inference", ns, N_T, D_T, with_crossover=False).verdict == ("train supervised")
        crossovers.append(x)
    assert crossovers[0] < crossovers[1]
    # best case (logits free) is at least as favourable to distillation
    assert crossover_compute("best-case", 546e6, N_T, D_T) > crossovers[0]


def test_comparison_fields() -> None:
    comp = compare(1e20, "teacher-inference", 546e6, N_T, D_T)
    assert comp.verdict == "distill" and comp.advantage > 0
    assert comp.crossover is not None and comp.crossover > 1e20
    assert comp.supervised.student_params == 546e6


@pytest.mark.parametrize("scenario", ["teacher-pretraining", "teacher-pretraining-inference"])
def test_one_student_and_teacher_to_train_means_supervised(scenario: str) -> None:
    # Paper: if one student is to be distilled and the teacher needs training, train supervised instead.
    for ns in (546e6, 1.82e9, 7.75e9):
        for c in (1e21, 1e23):
            comp = compare(c, scenario, ns, with_crossover=False)
            assert comp.verdict == "train supervised"
            assert comp.distillation.student_loss > comp.supervised.student_loss
    # with the student size free as well
    comp = compare(1e22, scenario, (1e8, 1e11), with_crossover=False)
    assert comp.verdict == "train supervised"


def test_teacher_trained_has_no_crossover() -> None:
    assert crossover_compute("teacher-pretraining-inference", 1.82e9, n_grid=9) is None


def test_infeasible_teacher_pretraining() -> None:
    p = optimal_distillation(1e18, "teacher-pretraining", 546e6, N_T, D_T)
    assert not p.feasible and p.student_loss == math.inf
    comp = compare(1e18, "teacher-pretraining", 546e6, N_T, D_T, with_crossover=False)
    assert comp.verdict == "train supervised"


def test_bad_inputs() -> None:
    with pytest.raises(DistilleryError, match="budget"):
        optimal_supervised(-1.0)
    with pytest.raises(DistilleryError, match="teacher_params"):
        optimal_distillation(1e21, "teacher-inference", 546e6, teacher_loss=2.0)
    with pytest.raises(DistilleryError, match="teacher_tokens"):
        optimal_distillation(1e21, "teacher-pretraining", 546e6, 1e9, teacher_loss=2.0)
    with pytest.raises(DistilleryError, match="student_params"):
        optimal_distillation(1e21, "best-case", (1e9, 1e8), teacher_loss=2.0)
    with pytest.raises(DistilleryError, match="margin"):
        compare(1e21, "best-case", 1e9, teacher_loss=2.0, margin=2.0)
