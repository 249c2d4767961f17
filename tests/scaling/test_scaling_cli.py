"""`distillery plan` through a small Typer app (the main CLI registers the same function)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from distillery.errors import DistilleryError
from distillery.scaling import distillation_loss, supervised_loss
from distillery.scaling.cli import parse_quantity, parse_sizes, plan

app = typer.Typer()
app.command("plan")(plan)


@app.command("version")
def _version() -> None:  # a second command so that "plan" stays a subcommand
    pass


runner = CliRunner()


def test_parse_quantities() -> None:
    assert parse_quantity("546M", "-s") == 546e6
    assert parse_quantity("1.82B", "-s") == pytest.approx(1.82e9)
    assert parse_quantity("2e21", "-C") == 2e21
    assert parse_sizes("143M,546M", "-s") == [143e6, 546e6]
    assert parse_sizes("100M:10B", "-s") == (100e6, 10e9)
    for bad in ("5Q", "-3M", "0", "1B:1M", "1M:2M:3M", "1M,2M:3M"):
        with pytest.raises(DistilleryError, match="-s"):
            parse_sizes(bad, "-s")


def test_plan_existing_teacher_writes_table_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    args = ["plan", "-C", "1e20", "-s", "546M,7.75B", "-t", "7.75B", "--teacher-tokens", "155B"]
    args += ["-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "teacher-inference" in result.output and "Table 6" in result.output
    assert "distill" in result.output
    assert "0.5137" in result.output  # compute-optimal exponent a
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "planner_advantage_teacher-inference.png",
        "planner_isoflops_teacher-inference.png",
        "planner_student_vs_teacher.png",
    ]
    for p in out.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_plan_teacher_to_train_says_supervised() -> None:
    args = ["plan", "-C", "1e22", "-s", "1.82B", "--scenario", "teacher-pretraining-inference"]
    result = runner.invoke(app, [*args, "--no-crossover"])
    assert result.exit_code == 0, result.output
    assert "train supervised" in result.output
    assert re.search(r"│ distill\s+│", result.output) is None


def _write_runs(root: Path) -> None:
    rng = np.random.default_rng(0)
    k = 0
    for n in np.geomspace(1e8, 1e10, 5):
        for m in (2, 10, 50, 250):
            loss = supervised_loss(n, m * n) * np.exp(rng.normal(0, 1e-3))
            scaling = {"student_params": n, "tokens": m * n, "student_loss": loss, "teacher_loss": None}
            (root / f"run{k:03d}").mkdir(parents=True)
            (root / f"run{k:03d}" / "metrics.json").write_text(json.dumps({"scaling": scaling}))
            k += 1
    for nt in np.geomspace(1e8, 1e10, 4):
        lt = supervised_loss(nt, 20 * nt)
        for n in np.geomspace(1e8, 1e10, 3):
            for m in (0.01, 1, 20, 200):
                loss = distillation_loss(n, m * n, lt) * np.exp(rng.normal(0, 1e-3))
                scaling = {"student_params": n, "tokens": m * n, "student_loss": loss, "teacher_loss": lt,
                           "teacher_params": nt}  # fmt: skip
                (root / f"run{k:03d}").mkdir(parents=True)
                (root / f"run{k:03d}" / "metrics.json").write_text(json.dumps({"scaling": scaling}))
                k += 1


def test_plan_fit(tmp_path: Path) -> None:
    _write_runs(tmp_path / "runs")
    args = ["plan", "-C", "1e20", "-s", "546M", "-t", "7.75B", "--teacher-tokens", "155B", "--fit",
            str(tmp_path / "runs"), "--bootstrap", "3", "--no-crossover"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "fitted to 20 supervised + 48 distillation runs" in result.output
    assert "bootstrap interval" in result.output and "fixed" in result.output  # c1 held fixed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-C", "lots"], "--budget"),
        (["-C", "1e21", "--scenario", "teacher"], "scenario"),
        (["-C", "1e21", "-t", "1B,2B"], "--teacher-params"),
        (["-C", "1e21", "-s", "1B", "--teacher-loss", "2.0"], "teacher_params"),
        (["-C", "1e21", "--flops", "6nd"], "--flops"),
        (["-C", "1e21", "--fit", "/nonexistent/run"], "no such run directory"),
    ],
)
def test_plan_bad_input_raises_distillery_error(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["plan", *args, "--no-crossover"])
    assert isinstance(result.exception, DistilleryError), result.output
    assert message in str(result.exception)
