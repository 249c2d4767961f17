"""Compute budgets: a budgeted run stops within one step of its budget; the schedule follows the budget."""
from types import SimpleNamespace

import pytest

from distillery.api import run
from distillery.compute import FlopMeter
from distillery.config import BudgetConfig, TrainConfig, build_config
from distillery.errors import DistilleryError
from distillery.losses import TermContext, build_loss_set, resolve_terms
from distillery.models import create_model
from distillery.training import DistillationModule
from distillery.training.compute import ComputeTracker


def test_steps_budget_ends_the_run_mid_epoch_and_still_evaluates(make_image_config):
    raw = make_image_config("steps", distill__method="scratch", train__epochs=5, train__budget={"steps": 4})
    m = run(raw, quiet=True)
    c = m["compute"]
    assert m["train"]["steps"] == 4 and c["steps"] == 4 and c["ended_by"] == "budget"
    assert c["budget"] == {"steps": 4} and c["budget_spent"] == 1.0
    assert m["history"][-1]["step"] == 4 and "val/acc" in m["history"][-1]  # evaluated where it stopped


def test_flops_budget_stops_within_one_step(make_image_config):
    probe = run(make_image_config("probe", distill__method="scratch", train__epochs=1), quiet=True)
    n, steps = probe["train"]["train_size"], probe["train"]["steps"]
    full_step = probe["compute"]["student_flops"] / n * 32  # batch 32; FLOPs are linear in the batch here
    budget = 4.5 * full_step
    raw = make_image_config("flops", distill__method="scratch", train__epochs=5, train__budget={"flops": budget})
    c = run(raw, quiet=True)["compute"]
    assert c["ended_by"] == "budget" and c["steps"] > steps
    assert budget <= c["total_flops"] < budget + full_step  # over it by less than one step
    assert c["total_flops"] == c["student_flops"] and c["teacher_flops"] == 0


def test_unbudgeted_run_is_ended_by_its_epochs_and_counts_every_phase(make_image_config):
    raw = make_image_config("live", train__epochs=2, teacher__cache="off")
    m = run(raw, quiet=True)
    c = m["compute"]
    assert c["ended_by"] == "epochs" and c["budget"] is None
    assert c["phases"]["teacher_live"] > 0 and c["phases"]["student_train"] > 0
    assert c["teacher_flops"] == pytest.approx(c["phases"]["teacher_live"] + c["phases"].get("teacher_head", 0))
    assert c["total_flops"] == pytest.approx(c["teacher_flops"] + c["student_flops"])
    assert 0 < c["mfu"] < 1 and c["peak_flops"] > 0
    # the live teacher's share: one eval forward per training sample per epoch
    per_sample = c["teacher_forward_flops_per_sample"]
    assert c["phases"]["teacher_live"] == pytest.approx(2 * m["train"]["train_size"] * per_sample, rel=0.01)
    flops = [h["flops"] for h in m["history"]]
    assert flops == sorted(flops) and flops[-1] == pytest.approx(c["total_flops"])


def test_cache_build_flops_are_charged_when_built_and_when_reused(make_image_config, tmp_path):
    over = dict(train__epochs=1, data__augment="none", teacher__cache=str(tmp_path / "cache"))
    first = run(make_image_config("a", **over), quiet=True)
    again = run(make_image_config("b", **over), quiet=True)
    assert first["teacher"]["cache"]["status"] == "built" and again["teacher"]["cache"]["status"] == "reused"
    built = first["compute"]["phases"]["cache_build"]
    n = first["train"]["train_size"]
    assert built == pytest.approx(n * first["compute"]["teacher_forward_flops_per_sample"], rel=0.01)
    assert again["compute"]["phases"]["cache_build"] == built
    assert again["compute"]["compute_time_s"] >= first["teacher"]["cache"]["build_s"]  # charged its build time


def test_teacher_head_flops_are_charged_when_trained_and_when_reused(make_text_config, tmp_path):
    def cfg(name):
        raw = make_text_config(name, train__epochs=1)
        raw["teacher"]["cache_dir"] = str(tmp_path / "own_cache")  # no other test's head is there to be reused
        return raw

    first = run(cfg("a"), quiet=True)
    again = run(cfg("b"), quiet=True)
    assert not first["teacher"]["head_reused"] and again["teacher"]["head_reused"]
    head = first["compute"]["phases"]["teacher_head"]
    # at least the teacher's forward over the training split (embeddings for the linear probe)
    assert head > first["train"]["train_size"] * first["compute"]["teacher_forward_flops_per_sample"] * 0.5
    assert again["compute"]["phases"]["teacher_head"] == head


def test_hours_budget_counts_wall_time_with_a_clock():
    t = [0.0]
    tracker = ComputeTracker(FlopMeter(), BudgetConfig(hours=1 / 3600), prior_s=0.25, clock=lambda: t[0])
    trainer = SimpleNamespace(should_stop=False)
    batch = {"student": {"x": __import__("torch").zeros(2, 3)}, "label": __import__("torch").zeros(2)}
    tracker.on_train_epoch_start(trainer, None)
    for _ in range(3):
        tracker.on_train_batch_start(trainer, None, batch, 0)
        t[0] += 0.3
        tracker.on_train_batch_end(trainer, None, None, batch, 0)
        if trainer.should_stop:
            break
    assert tracker.steps == 3 and tracker.ended_by == "budget"  # 0.25 + 0.9 s >= 1 s, 0.25 + 0.6 s < 1 s
    assert tracker.compute_s == pytest.approx(1.15)


def test_time_in_fit_carries_over_a_resume():
    t = [10.0]
    first = ComputeTracker(FlopMeter(), clock=lambda: t[0])
    first.on_fit_start(None, None)
    t[0] += 7.0
    state = first.state_dict()  # the checkpoint of the interrupted segment
    assert state["fit_s"] == pytest.approx(7.0)
    t[0] += 100.0  # the process dies; the run is resumed later
    second = ComputeTracker(FlopMeter(), clock=lambda: t[0])
    second.load_state_dict(state)
    second.on_fit_start(None, None)
    t[0] += 2.0
    assert second.fit_s_before == pytest.approx(7.0) and second.fit_s == pytest.approx(9.0)
    legacy = ComputeTracker(FlopMeter(), clock=lambda: t[0])
    legacy.load_state_dict({k: v for k, v in state.items() if k != "fit_s"})  # a checkpoint of an older version
    assert legacy.fit_s_before == 0.0


def test_learning_rate_follows_budget_progress():
    cfg = TrainConfig(epochs=100, lr=0.1, budget={"steps": 10})
    tracker = ComputeTracker(FlopMeter(), cfg.budget)
    ctx = TermContext(student_dim=64, teacher_dim=None, num_classes=4)
    module = DistillationModule(create_model("resnet20", 4), build_loss_set(resolve_terms("scratch", None), ctx),
                                None, cfg, steps_per_epoch=5, eval_names=["test"])
    module.tracker = tracker
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(10):
        tracker.steps += 1
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[4] == pytest.approx(0.05, abs=1e-9)  # half the budget: half the peak (cosine), not 100 epochs'
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12) and lrs == sorted(lrs, reverse=True)


@pytest.mark.parametrize("budget", [{"flops": 1e9, "steps": 3}, {}, {"hours": -1}, {"minutes": 3}])
def test_bad_budget_is_reported_with_its_key(make_image_config, budget):
    raw = make_image_config("bad", train__budget=budget)
    with pytest.raises(DistilleryError, match=r"train\.budget"):
        build_config(raw)


def test_gradient_accumulation_counts_optimizer_steps(make_image_config):
    raw = make_image_config("acc", distill__method="scratch", train__epochs=2, train__accumulate_grad_batches=2)
    m = run(raw, quiet=True)
    assert m["train"]["effective_batch_size"] == 64
    assert m["train"]["steps"] == 4 and m["compute"]["steps"] == 4  # 3 batches an epoch -> 2 optimizer steps


def test_a_fixed_data_seed_shares_the_split_and_teacher_across_training_seeds(make_text_config, tmp_path):
    def cfg(name, seed, data_seed=None):
        raw = make_text_config(name, train__epochs=1, train__seed=seed)
        raw["teacher"]["cache_dir"] = str(tmp_path / "own_cache")
        if data_seed is not None:
            raw["data"]["seed"] = data_seed
        return raw

    a = run(cfg("a", 0, data_seed=0), quiet=True)
    b = run(cfg("b", 1, data_seed=0), quiet=True)  # another training seed on the same split: head and cache reused
    assert not a["teacher"]["head_reused"] and b["teacher"]["head_reused"]
    assert b["teacher"]["cache"]["status"] == "reused"
    scores = tmp_path / "own_cache" / "teacher_scores"  # the teacher's test accuracy is measured once per teacher
    assert b["teacher"]["accuracy"] == a["teacher"]["accuracy"] and len(list(scores.glob("*.json"))) == 1
    c = run(cfg("c", 1), quiet=True)  # default: the split follows train.seed, so the teacher is prepared anew
    assert not c["teacher"]["head_reused"] and c["teacher"]["cache"]["status"] != "reused"
    assert len(list(scores.glob("*.json"))) == 2  # another probe, another teacher: evaluated again
