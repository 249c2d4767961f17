"""Reliability, round two: integrity of every stored artefact, honest selection and accounting, and the failures a
new user hit that are not one-line input errors (those are in tests/test_bad_inputs.py)."""
from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from distillery.api import evaluate, run
from distillery.cli import main
from distillery.errors import DistilleryError

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, text_data_dir, hf_teacher_dir, text_config_builder):
    """One finished tiny text run (module scope: several tests damage copies of it)."""
    d = tmp_path_factory.mktemp("finished")
    out = d / "run"
    raw = text_config_builder(text_data_dir, hf_teacher_dir, out)
    raw["teacher"]["cache_dir"] = str(d / "cache")
    metrics = run(raw, quiet=True)
    return out, metrics


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip_bytes(path: Path, at: int | None = None, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) - n - 8 if at is None else at
    for i in range(at, at + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# -- 1: a corrupted teacher head is detected and rebuilt -----------------------------------------------------------

def test_a_corrupted_teacher_head_is_rebuilt_not_reused(make_text_config, tmp_path, capsys):
    cache = str(tmp_path / "own_cache")
    first = run(make_text_config("first", teacher__cache_dir=cache), quiet=True)
    heads = sorted(Path(cache).glob("teacher_heads/*.safetensors"))
    assert len(heads) == 1 and heads[0].with_name(heads[0].name + ".sha256").is_file()
    head = heads[0]
    data = bytearray(head.read_bytes())
    data[-256:] = b"\x00\x00\x20\x41" * 64  # the float 10.0, repeated: a silently wrong but finite head
    head.write_bytes(bytes(data))
    capsys.readouterr()
    second = run(make_text_config("second", teacher__cache_dir=cache), quiet=False)
    err = capsys.readouterr().err
    assert "is corrupt" in err and "rebuilding it" in err
    assert second["teacher"]["accuracy"] == first["teacher"]["accuracy"]
    assert not second["teacher"]["head_reused"]


# -- 3: a corrupted student file is refused; NaN is never printed ---------------------------------------------------

def test_corrupted_student_weights_are_refused_by_eval_and_predict(finished_run, tmp_path, capsys):
    d = _copy_run(finished_run[0], tmp_path / "damaged")
    assert json.loads((d / "student.json").read_text())["sha256"]
    _flip_bytes(d / "student.safetensors")
    for argv in (["eval", str(d)], ["predict", str(d), "where is my card"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "student.safetensors is corrupt" in err and "Traceback" not in err


def test_non_finite_outputs_are_refused_not_printed_as_nan(finished_run, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from distillery.fileio import file_sha256

    d = _copy_run(finished_run[0], tmp_path / "nan")
    sd = load_file(str(d / "student.safetensors"))
    sd = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in sd.items()}
    save_file(sd, str(d / "student.safetensors"))
    meta = json.loads((d / "student.json").read_text())
    meta["sha256"] = file_sha256(d / "student.safetensors")  # consistent hash: only the values are bad
    (d / "student.json").write_text(json.dumps(meta))
    assert main(["predict", str(d), "hello there"]) == 2
    out, err = capsys.readouterr()
    assert "NaN" not in out and "non-finite outputs" in err
    with pytest.raises(DistilleryError, match="non-finite"):
        evaluate(d, quiet=True)


def test_predict_notes_a_path_that_does_not_exist(finished_run, capsys):
    assert main(["predict", str(finished_run[0]), "nothere.txt"]) == 0
    out, err = capsys.readouterr()
    assert "'nothere.txt' is not an existing file" in err and json.loads(out.splitlines()[0])["input"] == "nothere.txt"


# -- 4: empty texts dropped only when asked --------------------------------------------------------------------------

def test_drop_empty_drops_blank_rows_with_a_notice(make_text_config, tmp_path):
    from distillery.config import DataConfig
    from distillery.data import load_task_data

    d = tmp_path / "blanks"
    d.mkdir()
    (d / "train.csv").write_text("text,intent\n" + "".join(f"hello {i},a\nbye {i},b\n" for i in range(10))
                                 + ",a\n   ,b\n")
    (d / "test.csv").write_text("text,intent\nhello,a\nbye,b\n")
    data = load_task_data(DataConfig(source=str(d), label_column="intent", val_fraction=0, drop_empty=True))
    assert len(data.train) == 20 and "None" not in data.train.inputs and all(t.strip() for t in data.train.inputs)
    assert any("dropped 2 train rows" in n for n in data.notes)


# -- 6: resume from the last epoch, logs whole -----------------------------------------------------------------------

class Crash(RuntimeError):
    pass


def crash_after_epoch(monkeypatch, epoch: int) -> None:
    """Training dies at the end of ``epoch`` (1-based), after its checkpoints were written."""
    from distillery.training import DistillationModule

    original = DistillationModule.on_train_epoch_end

    def dying(self):
        original(self)
        if self.current_epoch + 1 == epoch:
            raise Crash("simulated crash")

    monkeypatch.setattr(DistillationModule, "on_train_epoch_end", dying)


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    import csv

    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def test_resume_starts_after_the_last_epoch_and_keeps_the_whole_csv_log(make_text_config, monkeypatch):
    from distillery.api import resume

    over = {"train__epochs": 5}
    full = make_text_config("full", **over)
    run(full, quiet=True)
    raw = make_text_config("cut", **over)
    out = Path(raw["output"]["dir"])
    from lightning.pytorch.callbacks import ModelCheckpoint

    original = ModelCheckpoint.check_monitor_top_k

    def best_is_epoch_one(self, trainer, current=None):  # validation never improves after the first epoch
        return self.best_model_score is None and original(self, trainer, current)

    with monkeypatch.context() as m:
        m.setattr(ModelCheckpoint, "check_monitor_top_k", best_is_epoch_one)
        crash_after_epoch(m, 4)  # dies in epoch 4's end hooks, before its checkpoint: 3 epochs are complete
        with pytest.raises(Crash):
            run(raw, quiet=True)
    load = lambda p: torch.load(p, map_location="cpu", weights_only=True)  # noqa: E731
    assert load(out / "checkpoints" / "best.ckpt")["epoch"] == 0
    assert load(out / "checkpoints" / "last.ckpt")["epoch"] == 2  # the last complete epoch, not the best
    resumed = resume(out, quiet=True)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4, 5]
    ref = _csv_rows(Path(full["output"]["dir"]))
    assert ref and _csv_rows(out) == ref  # every row of every epoch, once, as in the uninterrupted run


def test_a_corrupted_checkpoint_is_refused_on_resume(make_text_config, monkeypatch):
    from distillery.api import resume

    raw = make_text_config("cut", train__epochs=3)
    out = Path(raw["output"]["dir"])
    with monkeypatch.context() as m:
        crash_after_epoch(m, 2)
        with pytest.raises(Crash):
            run(raw, quiet=True)
    _flip_bytes(out / "checkpoints" / "last.ckpt", at=2000)
    with pytest.raises(DistilleryError, match="last.ckpt is corrupt"):
        resume(out, quiet=True)


def test_resume_while_another_process_runs_it_says_only_that(make_text_config, tmp_path, capsys):
    from distillery.fileio import locked

    raw = make_text_config("busy")
    out = Path(raw["output"]["dir"])
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(raw))
    with locked(out / ".lock", "test holder"):
        assert main(["run", "--resume", str(out)]) == 2
        err = capsys.readouterr().err
        assert "in use by another distillery process" in err and "continue it with" not in err
        cfg = tmp_path / "busy.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        assert main(["run", str(cfg)]) == 2  # a fresh start on it: the same, not "continue it with --resume"
        err = capsys.readouterr().err
        assert "in use by another distillery process" in err and "--resume" not in err
    assert (out / "config.yaml").is_file()


# -- 7, 10: the installed console script: usage errors and Ctrl-C -----------------------------------------------------

@pytest.mark.parametrize("argv", [["trian"], ["eval"], ["run", "x.yaml", "--epochs", "3"], ["plan"],
                                  ["compare", "c.yaml", "--seeds", "abc"]])
def test_console_script_usage_errors_are_one_line_exit_2(argv, tmp_path):
    r = subprocess.run([str(BIN / "distillery"), *argv], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("error:")] == [r.stderr.splitlines()[0]]
    assert "Usage:" in r.stderr  # the usage hint follows the one error line


def test_ctrl_c_during_training_exits_130(make_text_config, tmp_path):
    raw = make_text_config("sigint", train__epochs=500)
    cfg = tmp_path / "sigint.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    p = subprocess.Popen([str(BIN / "distillery"), "run", str(cfg)], stderr=subprocess.PIPE, text=True,
                         stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    t0 = time.monotonic()
    assert p.stderr is not None
    for line in p.stderr:  # wait until training has started
        if "training student" in line or time.monotonic() - t0 > 120:
            break
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    assert p.wait(timeout=60) == 130, err
    assert "interrupted" in err


# -- 8: disk full --------------------------------------------------------------------------------------------------

def test_disk_full_is_one_line_naming_the_file_and_keeps_the_checkpoint(make_text_config, tmp_path, monkeypatch,
                                                                        capsys):
    import distillery.training.engine as engine

    saves = []
    real_save = torch.save

    def save(obj, f, *a, **k):
        saves.append(f)
        if len(saves) > 2:  # the first epoch's best and last checkpoints fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(engine.torch, "save", save)
    raw = make_text_config("full_disk", train__epochs=3)
    cfg = tmp_path / "full.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "no space left on the device while writing" in lines[0] and ".ckpt" in lines[0]
    assert ".tmp" not in lines[0] and "Traceback" not in err
    out = Path(raw["output"]["dir"])
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "metrics.json").exists()


# -- 11: FLOPs of a term whose cost grows with its state ------------------------------------------------------------

def test_crd_flops_are_recounted_while_its_queue_fills():
    from distillery.compute.flops import FlopMeter, count_flops, shape_key
    from distillery.features import Features
    from distillery.losses import LossSet, TermContext, build_loss_set

    torch.manual_seed(0)
    ctx = TermContext(student_dim=16, teacher_dim=24, num_classes=4, temperature=4.0, projector="linear",
                      proj_dim=8, num_train=64, teacher_head=None)
    spec = {"crd": (1.0, {"num_negatives": 64})}
    metered: LossSet = build_loss_set(spec, ctx)
    counted = copy.deepcopy(metered)
    meter, stale = FlopMeter(), FlopMeter()  # stale: keyed by shapes only, as before the fix
    truth = 0
    for _ in range(8):  # batch 16: the 64-entry queue is full after 4 steps
        s = Features(embedding=torch.randn(16, 16, requires_grad=True))
        t = Features(embedding=torch.randn(16, 24))
        batch = {"label": torch.zeros(16, dtype=torch.long), "index": torch.arange(16)}
        meter.start("student_train", ("step", shape_key(s.embedding), metered.cost_state()))
        stale.start("student_train", ("step", shape_key(s.embedding)))
        sum(metered(s, t, batch).values()).backward()
        stale.stop()
        meter.stop()
        flops, _ = count_flops(lambda c=counted, s=s, t=t, b=batch: sum(c(s, t, b).values()).backward())
        truth += flops
    assert meter.by_phase["student_train"] == pytest.approx(truth)
    assert stale.by_phase["student_train"] < 0.8 * truth  # the empty-queue count reused: the undercount


# -- 13: no validation split: the last epoch, never the test split, is the result -----------------------------------

def test_without_validation_the_last_epoch_is_kept(make_text_config):
    m = run(make_text_config("noval", data__val_fraction=0.0, train__epochs=3), quiet=True)
    assert m["student"]["selected_by"] == "last epoch (no validation split)"
    assert m["student"]["accuracy"] == pytest.approx(m["history"][-1]["test/acc"], abs=1e-6)
    out = Path(make_text_config("noval")["output"]["dir"])
    assert not (out / "checkpoints" / "best.ckpt").exists() and (out / "checkpoints" / "last.ckpt").is_file()


# -- 15: a 32-px CNN teacher and a ViT student of another input size train from the same batch ------------------------

def test_vit_student_of_another_input_size_trains_with_a_cnn_teacher(make_image_config):
    raw = make_image_config("vit", student__model="timm:vit_tiny_patch16_224",
                            student__kwargs={"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 1,
                                             "num_heads": 2})
    m = run(raw, quiet=True)
    assert m["student"]["spec"] == "timm:vit_tiny_patch16_224" and m["train"]["steps"] > 0
    meta = json.loads((Path(raw["output"]["dir"]) / "student.json").read_text())
    assert meta["input"]["size"] == 32  # the data is 16 px: the student resizes to its own input size


# -- 10: the tokenizer's error is given whole, on one line -----------------------------------------------------------

def test_tokenizer_error_is_not_cut_off(tmp_path):
    from distillery.models.hf import load_tokenizer

    (tmp_path / "config.json").write_text("{}")  # a folder with no tokenizer files
    with pytest.raises(DistilleryError) as e:
        load_tokenizer(str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and not msg.rstrip().endswith("from one of:") and len(msg.split("from one of:")[-1]) > 20
