"""Fitting the laws to runs (Busbridge et al. 2025, arXiv 2502.08606, App. F.2) and reading metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distillery.errors import DistilleryError
from distillery.scaling import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    DistillationCoefficients,
    SupervisedCoefficients,
    compare,
    distillation_loss,
    supervised_loss,
)
from distillery.scaling.fit import RunRecord, fit_distillation, fit_laws, fit_supervised, read_runs


def synthetic_runs(
    noise: float,
    seed: int = 0,
    sup: SupervisedCoefficients = PAPER_SUPERVISED,
    dist: DistillationCoefficients = PAPER_DISTILLATION,
) -> list[RunRecord]:
    """Runs from known coefficients with multiplicative log-normal noise on the loss.

    The design probes every term: sizes 1e7-1e11, supervised runs at 1-1000 tokens/parameter, and
    distillation runs from strong and weak teachers (M_T = 20) down to 1e-3 tokens/parameter, where the
    student's data term B'/D^beta' is not negligible (at realistic token counts it is < 1 % of the N term).
    """
    rng = np.random.default_rng(seed)
    runs = []
    for n in np.geomspace(1e7, 1e11, 10):
        for m in np.geomspace(1, 1000, 10):
            loss = supervised_loss(n, m * n, sup) * np.exp(rng.normal(0, noise))
            runs.append(RunRecord(n, m * n, loss))
    for nt in np.geomspace(1e7, 1e11, 8):
        lt = supervised_loss(nt, 20 * nt, sup)
        for ns in np.geomspace(1e7, 1e11, 6):
            for m in np.geomspace(1e-3, 100, 7):
                loss = distillation_loss(ns, m * ns, lt, sup, dist) * np.exp(rng.normal(0, noise))
                runs.append(RunRecord(ns, m * ns, loss, lt, nt))
    return runs


def _max_rel_error(got: dict[str, float], want: dict[str, float]) -> tuple[str, float]:
    errs = {k: abs(got[k] / want[k] - 1) for k in want}
    worst = max(errs, key=errs.__getitem__)
    return worst, errs[worst]


def test_fit_recovers_known_coefficients_within_5_percent() -> None:
    runs = synthetic_runs(noise=5e-4, seed=0)  # 0.05 % noise on each run's loss
    sup = fit_supervised(runs)
    name, err = _max_rel_error(sup.coefficients.as_dict(), PAPER_SUPERVISED.as_dict())
    assert err < 0.05, (name, err)
    dist = fit_distillation(runs, sup.coefficients)  # c1 fixed at Table 6's value by default
    assert dist.fixed == ("c1",)
    name, err = _max_rel_error(dist.coefficients.as_dict(), PAPER_DISTILLATION.as_dict())
    assert err < 0.05, (name, err)


def test_fit_other_coefficients_and_bootstrap() -> None:
    truth = SupervisedCoefficients(E=1.6, A=800.0, B=9000.0, alpha=0.35, beta=0.38, gamma=0.6)
    runs = synthetic_runs(noise=5e-4, seed=1, sup=truth)
    fit = fit_supervised(runs, bootstrap=8, seed=0)
    name, err = _max_rel_error(fit.coefficients.as_dict(), truth.as_dict())
    assert err < 0.05, (name, err)
    assert len(fit.samples) == 8 and set(fit.intervals) == set(truth.as_dict())
    for k, (lo, hi) in fit.intervals.items():
        assert lo <= hi
        assert lo * 0.98 <= fit.coefficients.as_dict()[k] <= hi * 1.02


def test_realistic_noise_still_predicts() -> None:
    # 0.5 % noise, paper-like design (143M-12.6B, 20-320 tokens/parameter): the coefficients trade off
    # against each other, but predictions on new runs stay within 1 %.
    rng = np.random.default_rng(3)
    runs = []
    sizes = np.geomspace(143e6, 12.6e9, 6)
    for n in sizes:
        for m in (5, 10, 20, 40, 80, 160, 320):
            runs.append(RunRecord(n, m * n, supervised_loss(n, m * n) * np.exp(rng.normal(0, 5e-3))))
    for nt in sizes:
        lt = supervised_loss(nt, 20 * nt)
        for ns in sizes[:-1]:
            for m in (20, 80, 320):
                loss = distillation_loss(ns, m * ns, lt) * np.exp(rng.normal(0, 5e-3))
                runs.append(RunRecord(ns, m * ns, loss, lt, nt))
    laws, sup, dist = fit_laws(runs)
    assert dist is not None and sup.n_runs == 42 and dist.n_runs == 90
    for ns, m, lt in [(300e6, 30, 2.3), (2e9, 60, 2.1), (5e9, 200, 2.6)]:
        assert distillation_loss(ns, m * ns, lt, laws.supervised, laws.distillation) == pytest.approx(
            distillation_loss(ns, m * ns, lt), rel=0.01
        )
        want = supervised_loss(ns, m * ns)
        assert supervised_loss(ns, m * ns, laws.supervised) == pytest.approx(want, rel=0.01)
    # and the fitted laws plan like the paper's
    comp = compare(3e19, "teacher-inference", 546e6, 7.75e9, 155e9, laws=laws, with_crossover=False)
    assert comp.verdict == "distill"


def test_too_few_runs() -> None:
    runs = [RunRecord(1e9, 2e10, 2.3), RunRecord(2e9, 4e10, 2.2)]
    with pytest.raises(DistilleryError, match="at least 7"):
        fit_supervised(runs)
    with pytest.raises(DistilleryError, match="no runs"):
        fit_laws([])
    with pytest.raises(DistilleryError, match="no supervised runs"):
        fit_laws([RunRecord(1e9, 2e10, 2.3, 2.0, 7e9)])
    with pytest.raises(DistilleryError, match="unknown coefficient"):
        fit_supervised(runs, fixed={"zeta": 1.0})


def _write_run(root: Path, name: str, scaling: object) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"val_loss": 1.0, "scaling": scaling}))
    return d


def test_read_runs(tmp_path: Path) -> None:
    base = {"student_params": 1e8, "tokens": 2e9}
    a = _write_run(
        tmp_path / "runs", "sup", {**base, "student_loss": 3.1, "teacher_loss": None, "teacher_params": None}
    )
    kd = {**base, "student_loss": 3.0, "teacher_loss": 2.5, "teacher_params": 1e9}
    _write_run(tmp_path / "runs", "kd", kd)
    one = read_runs([a])
    assert one[0] == RunRecord(1e8, 2e9, 3.1, None, None, str(a))
    assert not one[0].distilled
    both = read_runs([tmp_path / "runs"])  # a directory of run directories
    assert [r.distilled for r in both] == [True, False]  # sorted: kd, sup
    assert both[0].teacher_params == 1e9
    assert read_runs([a / "metrics.json"])[0].student_loss == 3.1


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        (None, "no 'scaling' object"),
        ({"tokens": 1e9, "student_loss": 3.0}, "scaling.student_params: missing"),
        ({"student_params": "1e8", "tokens": 1e9, "student_loss": 3.0}, "student_params: must be a number"),
        ({"student_params": 1e8, "tokens": -1, "student_loss": 3.0}, "scaling.tokens: must be finite"),
        ({"student_params": 1e8, "tokens": 1e9, "student_loss": 3.0, "teacher_los": 2.0}, "unknown key"),
        ({"student_params": 1e8, "tokens": 1e9, "student_loss": True}, "student_loss: must be a number"),
    ],
)
def test_read_runs_errors(tmp_path: Path, scaling: object, message: str) -> None:
    d = _write_run(tmp_path, "bad", scaling)
    with pytest.raises(DistilleryError, match=message) as info:
        read_runs([d])
    assert "metrics.json" in str(info.value)


def test_read_runs_missing(tmp_path: Path) -> None:
    with pytest.raises(DistilleryError, match="no such run directory"):
        read_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DistilleryError, match="no metrics.json"):
        read_runs([tmp_path / "empty"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{not json")
    with pytest.raises(DistilleryError, match="not valid JSON"):
        read_runs([tmp_path / "broken"])
