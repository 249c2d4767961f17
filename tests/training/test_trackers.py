"""Trackers through Lightning's loggers: a real local MLflow store (SQLite) holds a run's resolved config as
parameters, its per-epoch figures and metrics.json's final figures; a comparison logs each arm as a run of one
experiment."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distillery.api import run
from distillery.report.compare import compare

mlflow = pytest.importorskip("mlflow")


def _runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    return client, client.search_runs([exp.experiment_id])


def test_a_run_logs_params_history_and_final_metrics_to_mlflow(make_text_config, tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    raw = make_text_config("tracked", train__epochs=2)
    raw["output"].update({"loggers": ["csv", "tensorboard", "mlflow"], "tracking_uri": uri, "experiment": "exp1"})
    m = run(raw, quiet=True)
    client, runs = _runs(uri, "exp1")
    assert len(runs) == 1
    r = runs[0]
    assert r.info.status == "FINISHED" and r.info.run_name == "tracked"
    assert r.data.params["train.lr"] == "0.01" and r.data.params["distill.method"] == "au"
    assert r.data.metrics["final.student.accuracy"] == pytest.approx(m["student"]["accuracy"])
    assert r.data.metrics["final.compute.total_flops"] == pytest.approx(m["compute"]["total_flops"])
    history = client.get_metric_history(r.info.run_id, "val/acc")
    assert len(history) == 2 and history[-1].value == pytest.approx(m["history"][-1]["val/acc"], abs=1e-6)
    assert (Path(raw["output"]["dir"]) / "logs" / "metrics.csv").is_file()  # csv and tensorboard as before


def test_mlflow_defaults_to_a_local_sqlite_store_beside_the_run(make_text_config, tmp_path):
    raw = make_text_config("tracked", train__epochs=1)
    raw["output"]["loggers"] = ["mlflow"]
    run(raw, quiet=True)
    db = Path(raw["output"]["dir"]).parent / "mlflow.db"
    _, runs = _runs(f"sqlite:///{db}", "distillery")
    assert db.is_file() and len(runs) == 1


def test_compare_logs_each_arm_as_a_run_of_one_experiment(make_text_config, tmp_path):
    raw = make_text_config("cmp", train__epochs=1)
    raw["output"]["loggers"] = ["csv", "mlflow"]
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    compare(str(cfg), ["scratch", "kd"], seeds=1, quiet=True)
    _, runs = _runs(f"sqlite:///{tmp_path / 'cmp' / 'mlflow.db'}", "compare-exp")
    assert sorted(r.info.run_name for r in runs) == ["kd_s0", "scratch_s0"]
    for r in runs:
        metrics = json.loads((tmp_path / "cmp" / r.info.run_name / "metrics.json").read_text())
        assert r.data.metrics["final.student.accuracy"] == pytest.approx(metrics["student"]["accuracy"])
        assert r.data.params["distill.method"] == r.info.run_name.split("_")[0]


def test_a_resumed_run_continues_its_mlflow_run(make_text_config, tmp_path, monkeypatch):
    from distillery.api import resume
    from distillery.training import DistillationModule

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    raw = make_text_config("cut", train__epochs=3)
    raw["output"].update({"loggers": ["csv", "mlflow"], "tracking_uri": uri})
    original = DistillationModule.on_train_epoch_end

    def dying(self):
        original(self)
        if self.current_epoch == 1:
            raise RuntimeError("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(DistillationModule, "on_train_epoch_end", dying)
        with pytest.raises(RuntimeError):
            run(raw, quiet=True)
    resume(Path(raw["output"]["dir"]), quiet=True)
    client, runs = _runs(uri, "distillery")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = [h.step for h in client.get_metric_history(runs[0].info.run_id, "val/acc")]
    assert len(set(steps)) == 3  # every epoch in the one run (the epoch the crash interrupted logged again)
    assert "final.student.accuracy" in runs[0].data.metrics
