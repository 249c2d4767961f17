"""Laws, F(N) and compute vs the fixtures of papers.md section 5 (Busbridge et al. 2025, arXiv 2502.08606)."""

from __future__ import annotations

import numpy as np
import pytest

from distillery.errors import DistilleryError
from distillery.scaling import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    ScalingLaws,
    Scenario,
    compute_optimal_exponents,
    distillation_loss,
    forward_flops,
    forward_flops_2n,
    optimal_distillation,
    optimal_supervised,
    student_tokens_for_budget,
    supervised_compute,
    supervised_loss,
    total_compute,
)


def test_table6_defaults() -> None:
    s, d = PAPER_SUPERVISED, PAPER_DISTILLATION
    assert (s.E, s.A, s.B, s.alpha, s.beta, s.gamma) == (1.220, 3355, 18186, 0.408, 0.431, 0.452)
    assert (d.A, d.B, d.alpha, d.beta, d.gamma) == (2243, 24181, 0.321, 0.637, 0.764)
    assert (d.c0, d.c1, d.f1, d.d1) == (2.549, 522.6, 0.090, 1.315)


@pytest.mark.parametrize(("n", "expected"), [(546e6, 2.5149), (1.82e9, 2.2509), (7.75e9, 2.0036)])
def test_supervised_fixture(n: float, expected: float) -> None:
    # papers.md 5.1 [OURS]: L(N, 20N) with Table 6 coefficients
    assert supervised_loss(n, 20 * n) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("lt", "expected"), [(2.0, 2.3755), (2.2, 2.4119), (2.4, 2.4754), (2.6, 2.6099), (3.0, 3.0000)]
)
def test_distillation_fixture(lt: float, expected: float) -> None:
    # papers.md 5.2 [OURS]: N_S = 546M, D_S = 20 N_S (L~_S = 2.5149)
    n = 546e6
    assert distillation_loss(n, 20 * n, lt) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("n", "expected", "table13"),
    [
        (546e6, 1.4149e9, 1.415e9),
        (102.8e6, 0.3400e9, 0.3398e9),
        (7.747e9, 16.988e9, 16.99e9),
        (12.61e9, 27.23e9, 27.23e9),
    ],
)
def test_forward_flops_fixture(n: float, expected: float, table13: float) -> None:
    # papers.md 5.4 [OURS] with n_ctx 4096, n_vocab 32168, rho 128, omega 12; and Table 13 within 0.1 %
    assert forward_flops(n) == pytest.approx(expected, rel=5e-5)
    assert forward_flops(n) == pytest.approx(table13, rel=1e-3)
    assert forward_flops_2n(n) == 2 * n


def test_compute_optimal_exponents() -> None:
    a, b = compute_optimal_exponents(PAPER_SUPERVISED)
    assert (round(a, 4), round(b, 4)) == (0.5137, 0.4863)  # papers.md 3.3 [OURS]
    assert a == pytest.approx(0.513, abs=1e-3) and b == pytest.approx(0.486, abs=1e-3)  # Table 6
    a2, b2 = compute_optimal_exponents(PAPER_DISTILLATION)
    assert (round(a2, 4), round(b2, 4)) == (0.6649, 0.3351)
    assert a2 == pytest.approx(0.664, abs=1e-3) and b2 == pytest.approx(0.335, abs=1e-3)  # Table 6


def test_numerical_optimum_scales_with_the_exponents() -> None:
    # With F = 2N (C = 6ND) the numerical supervised optimum follows N* ∝ C^a, D* ∝ C^b (4 digits).
    laws = ScalingLaws(flops=forward_flops_2n)
    cs = np.logspace(18, 24, 4)
    plans = [optimal_supervised(c, laws=laws) for c in cs]
    slope_n = np.polyfit(np.log(cs), np.log([p.student_params for p in plans]), 1)[0]
    slope_d = np.polyfit(np.log(cs), np.log([p.student_tokens for p in plans]), 1)[0]
    a, b = compute_optimal_exponents(PAPER_SUPERVISED)
    assert slope_n == pytest.approx(a, abs=5e-5)
    assert slope_d == pytest.approx(b, abs=5e-5)
    # Distillation at a fixed strong teacher (capacity-gap factor ~ 1): N_S* ∝ C^a'
    dplans = [
        optimal_distillation(c, "best-case", (1e6, 1e17), teacher_loss=1.0, laws=laws, min_tokens_per_param=0)
        for c in cs
    ]
    slope = np.polyfit(np.log(cs), np.log([p.student_params for p in dplans]), 1)[0]
    assert slope == pytest.approx(compute_optimal_exponents(PAPER_DISTILLATION)[0], abs=1e-3)


def test_flops_fixture_2n_worst_case() -> None:
    # papers.md 5.5: with F = 2N the worst case is 6 N_S D_S + 2 N_T D_S + 6 N_T D_T
    ns, ds, nt, dt = 546e6, 1e10, 7.75e9, 1.55e11
    c = total_compute(ns, ds, nt, dt, "teacher-pretraining-inference", flops=forward_flops_2n)
    assert c == pytest.approx(6 * ns * ds + 2 * nt * ds + 6 * nt * dt, rel=1e-12)
    assert total_compute(ns, ds, nt, dt, "best-case", flops=forward_flops_2n) == pytest.approx(6 * ns * ds)
    assert total_compute(ns, ds, nt, dt, "teacher-inference") == pytest.approx(
        3 * forward_flops(ns) * ds + forward_flops(nt) * ds
    )
    assert total_compute(ns, ds, nt, dt, "teacher-pretraining") == pytest.approx(
        3 * forward_flops(ns) * ds + 3 * forward_flops(nt) * dt
    )
    assert supervised_compute(ns, ds) == pytest.approx(3 * forward_flops(ns) * ds)


@pytest.mark.parametrize("scenario", list(Scenario))
def test_tokens_for_budget_inverts_total_compute(scenario: Scenario) -> None:
    ns, nt, dt, c = 1e9, 7e9, 1e11, 1e22
    ds = student_tokens_for_budget(c, ns, nt, dt, scenario)
    assert total_compute(ns, ds, nt, dt, scenario) == pytest.approx(c, rel=1e-12)


def test_scenario_indicators() -> None:
    got = {s.value: (s.delta_logits, s.delta_pretrain) for s in Scenario}
    assert got == {
        "best-case": (0, 0),
        "teacher-inference": (1, 0),
        "teacher-pretraining": (0, 1),
        "teacher-pretraining-inference": (1, 1),
    }
    assert Scenario.parse("Teacher_Inference") is Scenario.TEACHER_INFERENCE
    with pytest.raises(DistilleryError, match="scenario"):
        Scenario.parse("teacher")


def test_design_limits() -> None:
    # Eq. 8 design: N_S, D_S -> inf gives L_T; a very weak teacher gives L_S ~ L_T.
    assert distillation_loss(1e16, 1e20, 2.0) == pytest.approx(2.0, abs=2e-3)
    assert distillation_loss(1e9, 2e10, 6.0) == pytest.approx(6.0, abs=1e-6)
    # capacity gap: for a fixed student there is a best teacher, strictly inside the range
    lt = np.linspace(1.5, 3.0, 301)
    ls = distillation_loss(546e6, 20 * 546e6, lt)
    assert 0 < int(np.argmin(ls)) < len(lt) - 1
    assert isinstance(supervised_loss(1e9, 1e10), float)
    assert supervised_loss(np.array([1e9, 2e9]), 1e10).shape == (2,)


def test_bad_inputs() -> None:
    with pytest.raises(DistilleryError, match="N must be"):
        supervised_loss(-1.0, 1e9)
    with pytest.raises(DistilleryError, match="L_T"):
        distillation_loss(1e9, 1e9, 0.0)
    with pytest.raises(DistilleryError, match="N_T"):
        total_compute(1e9, 1e9, scenario="teacher-inference")
