"""Numerical faults stop the run with one line and keep the last good checkpoint; locks and atomic writes."""
import threading
import time
from pathlib import Path

import pytest
import torch

from distillery.api import run
from distillery.cli import main
from distillery.config import TrainConfig
from distillery.errors import DistilleryError, NumericalFault
from distillery.fileio import atomic_write, locked
from distillery.losses import LossSet, TermContext, build_loss_set, resolve_terms
from distillery.models import create_model
from distillery.training import DistillationModule


def _poison_ce(monkeypatch, call: int, poison) -> None:
    """Replace the cross-entropy term by ``poison(ce)`` at the ``call``-th training loss (1-based)."""
    calls = {"n": 0}
    forward = LossSet.forward

    def poisoned(self, *args, **kwargs):
        parts = forward(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == call:
            parts["ce"] = poison(parts["ce"])
        return parts

    monkeypatch.setattr(LossSet, "forward", poisoned)


def test_nan_loss_stops_the_run_naming_step_and_term_and_keeps_the_checkpoint(make_image_config, monkeypatch):
    _poison_ce(monkeypatch, 7, lambda ce: ce * float("nan"))  # epoch 3 of 3 steps each: two checkpoints by then
    raw = make_image_config("nan", distill__method="scratch", train__epochs=4)
    with pytest.raises(NumericalFault, match=r"non-finite loss \(ce = nan\) at step 6 \(epoch 3\)") as e:
        run(raw, quiet=True)
    assert "last good checkpoint is kept" in str(e.value)
    out = Path(raw["output"]["dir"])
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "metrics.json").exists()


def test_exploding_run_from_the_cli_is_one_line_exit_2(make_text_config, tmp_path, capsys):
    import yaml

    raw = make_text_config("boom", train__lr=1e30, train__epochs=2)
    p = tmp_path / "boom.yaml"
    p.write_text(yaml.safe_dump(raw))
    assert main(["run", str(p), "-q"]) == 2
    full = capsys.readouterr().err
    err = full.strip().splitlines()[-1]
    assert err.startswith("error: non-finite") and "train.lr" in err and "Traceback" not in full
    assert not (tmp_path / "boom").exists()  # nothing worth keeping: no checkpoint yet


def test_non_finite_parameter_is_named():
    ctx = TermContext(student_dim=64, teacher_dim=None, num_classes=4)
    m = DistillationModule(create_model("resnet20", 4), build_loss_set(resolve_terms("scratch", None), ctx), None,
                           TrainConfig(), steps_per_epoch=1, eval_names=["test"])
    m.check_parameters()  # all finite: nothing happens
    with torch.no_grad():
        m.student.linear.weight[0, 0] = float("inf")
    with pytest.raises(NumericalFault, match=r"non-finite parameter in student\.linear\.weight"):
        m.check_parameters()


class _InfGrad(torch.autograd.Function):
    """The identity whose gradient is infinite: a finite loss that poisons every gradient behind it."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("inf")


@pytest.mark.parametrize("poisoned_step", [4, 6])  # mid-epoch (the next loss finds it) and an epoch's last step
def test_non_finite_gradient_stops_the_run_before_a_checkpoint_holds_it(make_image_config, monkeypatch,
                                                                       poisoned_step):
    _poison_ce(monkeypatch, poisoned_step, _InfGrad.apply)  # 3 steps an epoch: the 1st of epoch 2, or its last
    raw = make_image_config("infgrad", distill__method="scratch", train__epochs=4)
    with pytest.raises(NumericalFault, match=r"non-finite (loss \(ce = nan; )?parameter in student\.") as e:
        run(raw, quiet=True)
    assert "(epoch 2)" in str(e.value)
    out = Path(raw["output"]["dir"])
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["state_dict"].values()
                                      if v.is_floating_point())  # epoch 1's checkpoint, not a poisoned one


def test_lock_refuses_a_second_holder_or_waits_for_it(tmp_path):
    p = tmp_path / "x" / ".lock"
    with locked(p, "run x"):
        with pytest.raises(DistilleryError, match="run x is in use by another distillery process"):
            with locked(p, "run x"):
                pass
    order = []
    ready = threading.Event()

    def holder():
        with locked(p, "cache"):
            ready.set()
            time.sleep(0.3)
            order.append("released")

    t = threading.Thread(target=holder)
    t.start()
    ready.wait()
    with locked(p, "cache", wait=True, on_wait=lambda: order.append("waiting")):
        order.append("acquired")
    t.join()
    assert order == ["waiting", "released", "acquired"]


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def fails(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fails)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("method", ["au", "rkd", "crd", "pkt"])
def test_last_batch_of_one_sample_trains(make_image_config, method):
    """The batch-level losses (uniformity, relations, contrastive negatives) must not give NaN on a batch of one."""
    from distillery.config import build_config
    from distillery.data import load_task_data

    raw = make_image_config(method)
    n = len(load_task_data(build_config(raw).data, seed=0).train)
    m = run(make_image_config(method, distill__method=method, train__batch_size=n - 1, data__augment="none"),
            quiet=True)
    assert m["train"]["steps"] == 2 and all(v == v for v in m["history"][-1].values())  # no NaN anywhere
