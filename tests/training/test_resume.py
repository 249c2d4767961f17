"""`distillery run --resume`: a run interrupted after a checkpoint continues to exactly the uninterrupted result."""
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from distillery.api import resume, run
from distillery.cli import main
from distillery.errors import DistilleryError
from distillery.training import DistillationModule


class Crash(RuntimeError):
    pass


def crash_after_epoch(monkeypatch, epoch: int, slow_s: float = 0.0) -> None:
    """Make training die at the end of ``epoch`` (1-based), after its checkpoint was written; each epoch before the
    crash takes at least ``slow_s`` longer."""
    original = DistillationModule.on_train_epoch_end

    def dying(self):
        time.sleep(slow_s)
        original(self)
        if self.current_epoch + 1 == epoch:
            raise Crash("simulated crash")

    monkeypatch.setattr(DistillationModule, "on_train_epoch_end", dying)


def same_result(a: dict, b: dict, dir_a: Path, dir_b: Path) -> None:
    assert a["student"]["accuracy"] == b["student"]["accuracy"]
    strip = ("elapsed_s", "train_epoch_s", "compute_s")
    assert [{k: v for k, v in h.items() if k not in strip} for h in a["history"]] == \
           [{k: v for k, v in h.items() if k not in strip} for h in b["history"]]
    wa, wb = load_file(str(dir_a / "student.safetensors")), load_file(str(dir_b / "student.safetensors"))
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    assert a["compute"]["steps"] == b["compute"]["steps"]
    assert a["compute"]["total_flops"] == pytest.approx(b["compute"]["total_flops"])


@pytest.mark.parametrize("kind", ["text", "image"])
def test_resumed_run_equals_the_uninterrupted_one(make_text_config, make_image_config, monkeypatch, kind):
    make = make_text_config if kind == "text" else make_image_config
    over = {"train__epochs": 4}
    if kind == "text":
        over["student__kwargs"] = {"embed_dim": 16, "num_filters": 8, "kernel_sizes": [1, 2], "dropout": 0.5}
    else:
        over["data__augment"] = "standard"  # replayed views from the cache; RNG-free shuffling restored
    full = run(make("full", **over), quiet=True)
    raw = make("cut", **over)
    out = Path(raw["output"]["dir"])
    with monkeypatch.context() as m:
        crash_after_epoch(m, 2, slow_s=1.5)  # the interrupted segment takes 3 s or more
        with pytest.raises(Crash):
            run(raw, quiet=True)
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "metrics.json").exists()
    with pytest.raises(DistilleryError, match="--resume"):  # starting it again is refused, with the way out
        run(raw, quiet=True)
    t0 = time.perf_counter()
    resumed = resume(out, quiet=True)
    last_segment_s = time.perf_counter() - t0
    assert resumed["train"]["resumed_from"].endswith("last.ckpt")
    assert resumed["train"]["train_time_s"] > last_segment_s  # both segments' training time, not the last one's
    same_result(full, resumed, Path(full_dir(make, "full")), out)


def full_dir(make, name: str) -> str:
    return make(name)["output"]["dir"]


def test_resume_without_checkpoint_starts_over(make_text_config, monkeypatch):
    raw = make_text_config("early", train__epochs=2)
    out = Path(raw["output"]["dir"])
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(__import__("yaml").safe_dump(raw))  # as left by a run killed in epoch 1
    (out / "junk.partial").write_text("x")
    m = resume(out, quiet=True)
    assert m["train"]["resumed_from"] is None and m["train"]["steps"] > 0 and not (out / "junk.partial").exists()


def test_resume_refuses_finished_and_foreign_directories(make_text_config, tmp_path, capsys):
    raw = make_text_config("done", train__epochs=1)
    run(raw, quiet=True)
    with pytest.raises(DistilleryError, match="already finished"):
        resume(raw["output"]["dir"])
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a distillery run directory" in capsys.readouterr().err
    assert main(["run", "x.yaml", "--resume", raw["output"]["dir"]]) == 2
    assert "--resume takes the run directory only" in capsys.readouterr().err
