"""Unlabelled transfer sets (data.transfer): teacher-driven terms see them, cross-entropy does not."""
import json

import pytest
import torch

from distillery.api import run
from distillery.config import DataConfig, build_config
from distillery.data import load_task_data
from distillery.errors import DistilleryError
from distillery.features import Features
from distillery.losses import TERMS, TermContext


def test_rest_is_the_unlabelled_remainder(text_data_dir):
    cfg = DataConfig(source=str(text_data_dir), label_column="intent", shots_per_class=3, transfer="rest")
    data = load_task_data(cfg, seed=0)
    full = load_task_data(DataConfig(source=str(text_data_dir), label_column="intent"), seed=0)
    assert len(data.train) == 12 and len(data.transfer) == len(full.train) - 12
    assert (data.transfer.labels == -1).all()
    assert set(data.train.inputs).isdisjoint(data.transfer.inputs)
    assert sorted(data.train.inputs + data.transfer.inputs) == sorted(full.train.inputs)
    s = data.student_train
    assert len(s) == len(full.train) and (s.labels[:12] >= 0).all() and (s.labels[12:] == -1).all()


def test_transfer_rest_needs_shots(make_text_config):
    raw = make_text_config("x", data__transfer="rest")
    with pytest.raises(DistilleryError, match="data: transfer: rest needs shots_per_class"):
        build_config(raw)


def test_cross_entropy_ignores_unlabelled_and_dkd_uses_the_teacher_target():
    ctx = TermContext(student_dim=4, teacher_dim=4, num_classes=3)
    ce = TERMS["ce"](ctx)
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([0, 2, -1, -1])
    s = Features(logits=logits)
    assert float(ce(s, None, {"label": labels})) == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:2],
                                                                                                   labels[:2])))
    none = ce(s, None, {"label": torch.full((4,), -1)})
    none.backward()
    assert float(none) == 0.0 and (logits.grad == 0).all()
    t = Features(logits=torch.randn(4, 3))
    dkd = TERMS["dkd"](ctx)
    with_pseudo = dkd(s, t, {"label": torch.where(labels >= 0, labels, t.logits.argmax(-1))})
    assert torch.isfinite(dkd(s, t, {"label": labels})) and float(dkd(s, t, {"label": labels})) == pytest.approx(
        float(with_pseudo))


@pytest.mark.parametrize("method", ["au", "dkd", "crd"])
def test_run_with_transfer_set(make_text_config, method):
    raw = make_text_config(method, data__shots_per_class=3, data__transfer="rest", distill__method=method)
    m = run(raw, quiet=True)
    n = m["train"]["train_size"] + m["train"]["transfer_size"]
    assert m["train"]["train_size"] == 12 and m["train"]["transfer_size"] > 0
    manifest = json.loads((__import__("pathlib").Path(m["teacher"]["cache"]["path"]) / "manifest.json").read_text())
    assert manifest["num_samples"] == n  # the teacher's outputs cover the transfer set too
    assert m["train"]["steps"] == 2 * -(-n // 16)  # every epoch runs over labelled + transfer examples
