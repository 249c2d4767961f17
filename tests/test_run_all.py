"""benchmarks/run_all.py: figures per run, mean ± std over seeds, the generated Markdown and its place in the docs."""
from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_all.py"


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("run_all", None)


def _cls_metrics(acc: float, teacher: float | None = 0.93) -> dict:
    return {"student": {"accuracy": acc}, "teacher": None if teacher is None else {"accuracy": teacher},
            "train": {"train_time_s": 12.0}}


def _results(run_all, profile="full") -> dict:
    accs = {"scratch": [0.90, 0.91, 0.92], "au": [0.93, 0.95, 0.94]}
    mlm = {"student": {"val_ce": 6.2}, "train": {"train_time_s": 9.0, "tokens_seen": 1000},
           "glue": {"SST-2": {"score": 0.6}, "RTE": {"score": 0.5}}}
    return {"profile": profile, "seeds": 3, "date": "2026-11-23", "commit": "abc1234", "wall_s": 600.0,
            "plot": "run_all.png",
            "machine": {"cpu": "test cpu", "cores": 2, "threads": 2, "gpu": None, "torch": "2", "transformers": "5",
                        "python": "3.11"},
            "suites": {"banking77_full": {k: {"arm": k, "command": f"distillery compare x --arms {k}",
                                              "runs": [run_all.score(_cls_metrics(a)) for a in v]}
                                          for k, v in accs.items()},
                       "mlm_budget": {"scratch (MLM only)": {"arm": "scratch", "command": "distillery compare y",
                                                             "runs": [run_all.score(mlm)] * 3}}},
            "overhead": None}


def test_score_reads_classification_and_mlm_runs(run_all):
    s = run_all.score(_cls_metrics(0.9071, teacher=None))
    assert s == {"train_s": 12.0, "accuracy": pytest.approx(90.71)}
    m = run_all.score({"student": {"val_ce": 6.3}, "train": {"train_time_s": 5.0, "tokens_seen": 77},
                       "glue": {"SST-2": {"score": 0.7}, "CoLA": {"score": 0.1}}})
    assert m["val_ce"] == 6.3 and m["tokens"] == 77
    assert m["glue_avg"] == pytest.approx(40.0) and m["glue_SST-2"] == pytest.approx(70.0)


def test_render_reports_mean_and_sample_std_per_arm(run_all):
    text = run_all.render(_results(run_all))
    sd = statistics.stdev([93.0, 95.0, 94.0])
    assert f"| au | 94.00 ± {sd:.2f} | 93.00 ± 0.00 |" in text
    assert "| scratch | 91.00 ± 1.00 |" in text
    assert "commit abc1234" in text and "test cpu" in text and "3 seeds" in text
    assert "distillery compare x --arms au" in text
    assert "| SST-2 | RTE | GLUE avg |" in text and "| 60.0 ± 0.0 | 50.0 ± 0.0 | 55.0 ± 0.0 |" in text


def test_full_run_replaces_only_its_section(run_all, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "benchmarks.md").write_text("# Benchmarks\n\nIntro.\n\n## Issue 2 analysis\n\nkept\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    run_all.write_docs(_results(run_all), quick=False)
    first = (docs / "benchmarks.md").read_text()
    assert first.index("Intro.") < first.index(run_all.BEGIN) < first.index("## Issue 2 analysis")
    res = _results(run_all)
    res["commit"] = "def5678"
    run_all.write_docs(res, quick=False)
    second = (docs / "benchmarks.md").read_text()
    assert second.count(run_all.BEGIN) == 1 and "def5678" in second and "abc1234" not in second
    assert second.endswith("## Issue 2 analysis\n\nkept\n")
    quick = run_all.write_docs(_results(run_all, "quick"), quick=True)
    assert quick.name == "benchmarks_quick.md" and "quick run" in quick.read_text()


def test_every_suite_points_at_real_data_and_a_ready_config(run_all, tmp_path):
    root = Path(run_all.ROOT)
    for suite in run_all.SUITES:
        assert (root / suite.config).is_file(), suite.config
        over = run_all.data_overrides(suite, tmp_path, hub=False)
        assert any(o.startswith("data.source=" + str(tmp_path)) for o in over)
        hub = run_all.data_overrides(suite, tmp_path, hub=True)
        assert not any(o == f"data.source={tmp_path / 'banking77'}" for o in hub)
    ten = next(s for s in run_all.SUITES if s.name == "banking77_10shot")
    transfer = ten.rows[-1]
    over = run_all.suite_overrides(ten, transfer, "quick")
    assert over[-1] == "train.epochs=4" and [o for o in over if o.startswith("train.epochs=")] == ["train.epochs=4"]


def test_a_row_runs_only_in_its_profiles(run_all, tmp_path, monkeypatch):
    import json

    import distillery.report.compare as cmp

    ran = []

    def fake_compare(config, arms, seeds, budget, out, overrides, quiet):  # writes what a finished arm leaves
        ran.append(overrides)
        for i in range(seeds):
            d = Path(out) / f"{arms[0]}_s{i}"
            d.mkdir(parents=True)
            (d / "metrics.json").write_text(json.dumps(_cls_metrics(0.5, teacher=0.8)))

    monkeypatch.setattr(cmp, "compare", fake_compare)
    suite = next(s for s in run_all.SUITES if s.name == "cifar10_10pct")
    quick = run_all.run_suite(suite, tmp_path / "q", "quick", 2, tmp_path, hub=False)
    assert list(quick) == ["scratch", "au"] and not any("data.transfer=rest" in o for o in ran)
    full = run_all.run_suite(suite, tmp_path / "f", "full", 2, tmp_path, hub=False)
    assert list(full) == ["scratch", "au", "au + transfer set (the unlabelled rest)"]
    assert "data.transfer=rest" in ran[-1] and "--set data.transfer=rest" in full[list(full)[-1]]["command"]


def test_only_invocations_merge_their_sections_and_add_their_times(run_all):
    full = _results(run_all)
    first = run_all.merge_results(None, {**full, "suites": {"banking77_full": full["suites"]["banking77_full"]},
                                         "overhead": None, "wall_s": 600.0})
    assert first["invocations"] == 1 and list(first["suites"]) == ["banking77_full"]
    assert "in 10 minutes" in run_all.render(first)
    second = run_all.merge_results(first, {**full, "suites": {"mlm_budget": full["suites"]["mlm_budget"]},
                                           "overhead": {"x": 1}, "wall_s": 1200.0, "commit": "fff0000"})
    assert list(second["suites"]) == ["banking77_full", "mlm_budget"] and second["overhead"] == {"x": 1}
    assert second["invocations"] == 2 and second["wall_s"] == 1800.0 and second["commit"] == "fff0000"
    text = run_all.render({**second, "overhead": None})
    assert "in 2 `--only` invocations" in text and "30 minutes together" in text
    # sections run at different commits say which ran at which, in the docs and in the README excerpt
    assert "commits abc1234 (banking77_full); fff0000 (mlm_budget, overhead)" in text
    assert "fff0000 (mlm_budget, overhead)" in run_all.excerpt(second)
    assert "commit abc1234," in run_all.render(first)  # one commit: named once
    third = run_all.merge_results(second, {**full, "suites": {}, "overhead": None, "wall_s": 60.0})
    assert third["overhead"] == {"x": 1} and third["suites"] == second["suites"]  # nothing lost
    other = run_all.merge_results(second, {**full, "profile": "quick", "suites": {}, "overhead": None, "wall_s": 5.0})
    assert other["invocations"] == 1 and other["suites"] == {}  # a different profile starts afresh


def test_full_run_writes_the_readme_excerpt_between_its_markers(run_all, tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "benchmarks.md").write_text("# Benchmarks\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Results\n\n{run_all.README_BEGIN}\nold table\n{run_all.README_END}\n\n## Docs\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    run_all.write_docs(_results(run_all), quick=False)
    text = readme.read_text()
    assert "old table" not in text and text.endswith(f"{run_all.README_END}\n\n## Docs\n")
    sd = statistics.stdev([93.0, 95.0, 94.0])
    assert ("| Banking77, full training split (MiniLM → text CNN 4.2 M) | 91.00 ± 1.00 % | "
            f"au: **94.00 ± {sd:.2f} %** | 93.00 % |") in text
    assert "| Masked-LM pre-training at equal FLOPs, then GLUE dev (MiniLM → BERT 4 × 192) | 55.00 ± 0.00 (GLUE avg) " \
           "|  | — |" in text
    assert "commit abc1234" in text and "3 seeds" in text
    run_all.write_docs(_results(run_all, "quick"), quick=True)  # the quick profile leaves the README alone
    assert readme.read_text() == text
    worse = _results(run_all)  # where distillation loses, the scratch figure is the bold one
    b77 = worse["suites"]["banking77_full"]
    b77["scratch"]["runs"], b77["au"]["runs"] = b77["au"]["runs"], b77["scratch"]["runs"]
    assert f"| **94.00 ± {sd:.2f} %** | au: 91.00 ± 1.00 % |" in run_all.excerpt(worse)


def test_plot_draws_one_panel_per_suite_with_the_teacher_line(run_all, tmp_path, monkeypatch):
    import matplotlib.axes

    lines = []
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline",
                        lambda self, y, **kw: lines.append(y) or None)
    dest = tmp_path / "img" / "suite.png"
    run_all.plot(_results(run_all), dest)
    assert dest.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert lines == [pytest.approx(93.0)]  # the Banking77 panel's teacher; the MLM panel has no teacher accuracy


ROOT = SCRIPT.parents[1]


def test_the_readme_results_excerpt_is_what_run_all_renders_from_its_json(run_all):
    """The README's 3-seed table is generated: it must equal the excerpt rendered from the committed JSON."""
    import json

    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(run_all.README_BEGIN) + len(run_all.README_BEGIN):readme.index(run_all.README_END)]
    results = json.loads((ROOT / "benchmarks" / "results" / "run_all.json").read_text())
    assert block.strip() == run_all.excerpt(results).strip()


def _json_numbers(obj, out: list[float]) -> list[float]:
    if isinstance(obj, bool):
        return out
    if isinstance(obj, (int, float)):
        out.append(float(obj))
    elif isinstance(obj, dict):
        for v in obj.values():
            _json_numbers(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _json_numbers(v, out)
    return out


def test_every_figure_of_the_readme_results_tables_is_in_a_result_json(run_all):
    """Each figure in the README's other results tables (the cells after the first column; the generated excerpt
    is checked above) equals, at the digits shown, a value that a benchmark script wrote to
    benchmarks/results/*.json (accuracies as fractions there)."""
    import json
    import re

    values: list[float] = []
    for p in (ROOT / "benchmarks" / "results").glob("*.json"):
        _json_numbers(json.loads(p.read_text()), values)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(run_all.README_END):readme.index("## Documentation")]
    figures = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        for cell in line.strip().strip("|").split("|")[1:]:
            # a figure, or "mean ± std %" (both percent), or FLOPs as 2.95e13 (checked at the mantissa's digits)
            for m in re.finditer(r"(\d+\.\d+(?:e\d+)?)(?: ± (\d+\.\d+))?( ?%)?(?! ?M\b)", cell):
                figures += [(g, bool(m.group(3))) for g in m.groups()[:2] if g]
    assert len(figures) >= 10
    missing = []
    for text, percent in figures:
        mantissa, _, exponent = text.partition("e")
        digits, scale = len(mantissa.split(".")[1]), 10.0 ** int(exponent or 0)
        target = float(mantissa)
        found = any(round((100 * v if percent else v) / scale, digits) == target for v in values)
        if not found:
            missing.append(text + (" %" if percent else ""))
    assert not missing, f"README figures with no result JSON behind them: {missing}"
