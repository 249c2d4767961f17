"""`distillery compare` and `distillery report` on tiny local models and data."""
import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from distillery.cli import main
from distillery.errors import DistilleryError
from distillery.report.build import collect, find_runs
from distillery.report.compare import compare
from distillery.report.pretraining import IMAGENET_1K_TRAIN, estimated_cost, known_cost


def write_config(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def test_compare_two_arms_two_seeds_writes_both_reports(make_text_config, tmp_path):
    cfg = write_config(make_text_config("cmp"), tmp_path / "exp.yaml")
    paths = compare(str(cfg), ["scratch", "kd"], seeds=2, quiet=True, command="distillery compare exp.yaml")
    root = tmp_path / "cmp"
    assert paths["md"] == root / "report.md" and paths["html"].is_file()
    for png in (paths["epoch_png"], paths["flops_png"]):
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 300
    md = paths["md"].read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert {"scratch", "kd"} <= set(rows) and " ± " in rows["kd"]  # two seeds: mean ± std
    arms = collect(find_runs([root]))
    assert [len(a.runs) for a in arms.values()] == [2, 2]
    assert {m["train"]["seed"] for m in arms["kd"].runs} == {0, 1}
    assert arms["kd"].mean("compute", "teacher_flops") > 0 and arms["scratch"].mean("compute", "teacher_flops") == 0
    assert "of the pre-training route's FLOPs" in md and "estimated" in md
    kd_wins = arms["kd"].mean("student", "accuracy") >= arms["scratch"].mean("student", "accuracy")
    assert (" saved (" in md) == kd_wins and ("no saving is claimed" in md) == (not kd_wins)
    assert "<table>" in paths["html"].read_text() and "plots/accuracy_vs_flops.png" in paths["html"].read_text()
    # finished arms are reused, not retrained
    stamp = (root / "kd_s1" / "metrics.json").stat().st_mtime
    compare(str(cfg), ["scratch", "kd"], seeds=2, quiet=True)
    assert (root / "kd_s1" / "metrics.json").stat().st_mtime == stamp


def test_finetune_arm_and_budget(make_text_config, tmp_path):
    pre = write_config(make_text_config("pre", distill__method="scratch"), tmp_path / "pre.yaml")
    assert main(["run", str(pre), "-q"]) == 0
    cfg = write_config(make_text_config("ft"), tmp_path / "exp.yaml")
    compare(str(cfg), ["finetune", "au"], seeds=1, budget="steps=3", finetune_weights=str(tmp_path / "pre"),
            pretrain_run=str(tmp_path / "pre"), quiet=True)
    ft = yaml.safe_load((tmp_path / "ft" / "finetune_s0" / "config.yaml").read_text())
    au = yaml.safe_load((tmp_path / "ft" / "au_s0" / "config.yaml").read_text())
    assert ft["student"]["weights"].endswith("student.safetensors") and au["student"]["weights"] is None
    assert ft["distill"]["method"] == "scratch"
    for arm in ("finetune_s0", "au_s0"):
        c = json.loads((tmp_path / "ft" / arm / "metrics.json").read_text())["compute"]
        assert c["steps"] == 3 and c["ended_by"] == "budget"
    md = (tmp_path / "ft" / "report.md").read_text()
    assert "measured: distillery run" in md and "the `finetune` arm, measured" in md


def test_report_command_rebuilds_from_runs(make_text_config, tmp_path):
    cfg = write_config(make_text_config("r"), tmp_path / "exp.yaml")
    compare(str(cfg), ["scratch"], seeds=1, quiet=True)
    (tmp_path / "r" / "report.md").unlink()
    out = tmp_path / "rebuilt"
    assert main(["report", str(tmp_path / "r" / "scratch_s0"), "--out", str(out)]) == 0
    assert (out / "report.md").is_file() and (out / "plots" / "accuracy_vs_epoch.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--arms", "scratch,nonsense"], "unknown arm"),
    (["--arms", "finetune"], "--finetune-weights"),
    (["--budget", "lots"], "--budget"),
    (["--budget", "minutes=3"], "train.budget"),
])
def test_compare_bad_input_one_line_exit_2(make_text_config, tmp_path, capsys, args, message):
    cfg = write_config(make_text_config("bad"), tmp_path / "exp.yaml")
    assert main(["compare", str(cfg), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (tmp_path / "bad").exists()  # nothing was started


def test_report_of_a_folder_without_runs_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_pretraining_costs_cited_and_estimated(make_image_config, tmp_path):
    from distillery.api import run

    assert known_cost("torchvision:resnet18").kind == "cited"
    assert known_cost("timm:mobilenetv2_100").kind == "cited"
    assert known_cost("resnet20") is None and known_cost("text_cnn") is None
    run(make_image_config("img", distill__method="scratch"), quiet=True)
    est = estimated_cost(tmp_path / "img")
    # ResNet-20 at 224x224: its 32x32 convolution FLOPs scaled by (224/32)^2, plus the classifier
    def conv(cin, cout, hw):
        return 2 * cout * hw * hw * cin * 9

    convs = (conv(3, 16, 224) + 6 * conv(16, 16, 224) + conv(16, 32, 112) + 5 * conv(32, 32, 112)
             + conv(32, 64, 56) + 5 * conv(64, 64, 56))
    fwd224 = convs + 2 * 64 * 4
    assert est.kind == "estimated" and est.flops == pytest.approx(3 * fwd224 * IMAGENET_1K_TRAIN * 90, rel=0.05)


def test_compare_resumes_an_interrupted_arm_of_the_same_config(make_text_config, tmp_path, monkeypatch):
    from distillery.training import DistillationModule

    raw = make_text_config("resume_cmp", train__epochs=3)
    cfg = write_config(raw, tmp_path / "exp.yaml")
    original = DistillationModule.on_train_epoch_end

    def dying(self):
        original(self)
        if self.current_epoch == 1:  # the study dies in epoch 2, after epoch 1's checkpoint
            raise RuntimeError("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(DistillationModule, "on_train_epoch_end", dying)
        with pytest.raises(RuntimeError, match="simulated crash"):
            compare(str(cfg), ["scratch"], seeds=1, quiet=True)
    run_dir = tmp_path / "resume_cmp" / "scratch_s0"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not (run_dir / "metrics.json").exists()
    compare(str(cfg), ["scratch"], seeds=1, quiet=True)  # continues that run instead of refusing it
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["train"]["resumed_from"].endswith("last.ckpt") and len(m["history"]) == 3
    # an unfinished run of another config is refused, not resumed
    (run_dir / "metrics.json").unlink()
    with pytest.raises(DistilleryError, match="unfinished run of another config"):
        compare(str(cfg), ["scratch"], seeds=1, quiet=True, overrides=["train.lr=0.5"])


def test_compare_refuses_a_finished_run_of_another_config(make_text_config, tmp_path):
    cfg = write_config(make_text_config("other_cfg", train__epochs=1), tmp_path / "exp.yaml")
    compare(str(cfg), ["scratch"], seeds=1, quiet=True)
    # how it runs is not what it computes: another thread count or progress display reuses the finished run
    compare(str(cfg), ["scratch"], seeds=1, quiet=True, overrides=["train.num_threads=1", "train.progress=true"])
    with pytest.raises(DistilleryError, match="finished run of another config"):
        compare(str(cfg), ["scratch"], seeds=1, quiet=True, overrides=["train.lr=0.5"])


def test_a_saving_is_claimed_only_at_equal_or_better_accuracy():
    """The comparison report names the winner first; a compute saving is stated only when the distilled student
    is at least as accurate as the pre-training route's (issue: "5.6e4x less" printed for a losing arm)."""
    from distillery.report.build import Arm, pretraining_lines
    from distillery.report.pretraining import PretrainCost

    def arm(name, acc, flops):
        return Arm(name, runs=[{"student": {"accuracy": acc}, "compute": {"total_flops": flops}, "train": {}}])

    cost = PretrainCost(flops=1e18, kind="estimated", source="test")
    losing = pretraining_lines({"finetune": arm("finetune", 0.4751, 1e12), "au": arm("au", 0.4670, 1e13)}, cost)
    text = "\n".join(losing)
    assert "`finetune` beats `au`" in text and "46.70 % vs 47.51 %" in text
    assert "no saving is claimed" in text and "saved (" not in text and "x less" not in text
    winning = "\n".join(pretraining_lines({"finetune": arm("finetune", 0.47, 1e12), "au": arm("au", 0.49, 1e13)},
                                          cost))
    assert "`au` beats `finetune`" in winning and "saved (" in winning and "x less" in winning
