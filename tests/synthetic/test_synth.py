"""`distillery synth` end to end on a tiny offline diffusion pipeline: generation, resume, determinism, mixing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from distillery.api import run
from distillery.cli import main
from distillery.config import build_config
from distillery.errors import DistilleryError
from distillery.synthetic import default_prompts, synthesize


def _synth_cfg(make_image_config, tiny_sd_dir, out, **synth):
    raw = make_image_config("run")
    raw["synth"] = {"model": str(tiny_sd_dir), "images_per_class": 3, "batch_size": 4, "steps": 2, "height": 16,
                    "width": 16, "out": str(out), **synth}
    return raw


def _pixels(out):
    return {p.relative_to(out).as_posix(): np.asarray(Image.open(p)) for p in sorted(out.rglob("*.png"))}


def test_generate_resume_and_determinism(make_image_config, tiny_sd_dir, tmp_path):
    out = tmp_path / "syn"
    cfg = build_config(_synth_cfg(make_image_config, tiny_sd_dir, out))
    r = synthesize(cfg, quiet=True)
    assert (r.generated, r.kept, r.total) == (12, 0, 12)
    first = _pixels(out)
    assert sorted(first) == [f"{c}/{k:05d}.png" for c in "abcd" for k in range(3)]
    assert all(a.shape == (16, 16, 3) and a.dtype == np.uint8 for a in first.values())
    assert len({a.tobytes() for a in first.values()}) == 12  # one seed per image: all different
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] and m["settings"]["model"] == str(tiny_sd_dir) and len(m["images"]) == 12
    assert {i["prompt"] for i in m["images"] if i["class"] == "b"} == {"a picture of a b"}
    assert len({i["seed"] for i in m["images"]}) == 12

    # resume: deleted images are regenerated identically, the others are kept untouched
    for name in ("a/00001.png", "d/00002.png"):
        (out / name).unlink()
    mtime = (out / "b/00000.png").stat().st_mtime_ns
    r2 = synthesize(cfg, quiet=True)
    assert (r2.generated, r2.kept) == (2, 10)
    assert (out / "b/00000.png").stat().st_mtime_ns == mtime
    again = _pixels(out)
    assert all(np.array_equal(first[k], again[k]) for k in first if k not in ("a/00001.png", "d/00002.png"))
    # regenerated in a batch of 2 instead of 4: the same seeds; float noise of the batched UNet may move a pixel
    # by one intensity level
    assert max(np.abs(first[k].astype(int) - again[k].astype(int)).max() for k in first) <= 1

    # more images per class extends the set; the first ones stay
    r3 = synthesize(build_config(_synth_cfg(make_image_config, tiny_sd_dir, out, images_per_class=4)), quiet=True)
    assert (r3.generated, r3.kept, r3.total) == (4, 12, 16)

    # a fresh folder with another batch size gives the same images (seeds are per image, not per batch)
    other = tmp_path / "syn_bs1"
    synthesize(build_config(_synth_cfg(make_image_config, tiny_sd_dir, other, batch_size=1)), quiet=True)
    diffs = [np.abs(first[k].astype(int) - v.astype(int)).max() for k, v in _pixels(other).items()]
    assert len(diffs) == 12 and max(diffs) <= 1


def test_other_settings_are_refused(make_image_config, tiny_sd_dir, tmp_path):
    out = tmp_path / "syn"
    synthesize(build_config(_synth_cfg(make_image_config, tiny_sd_dir, out, images_per_class=1)), quiet=True)
    with pytest.raises(DistilleryError, match="other settings \\(steps: 2 there, 3 now\\)"):
        synthesize(build_config(_synth_cfg(make_image_config, tiny_sd_dir, out, images_per_class=1, steps=3)),
                   quiet=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(DistilleryError, match="not a synthetic set"):
        synthesize(build_config(_synth_cfg(make_image_config, tiny_sd_dir, tmp_path / "busy")), quiet=True)


def test_ratio_prompts_and_class_names(make_image_config, tiny_sd_dir, tmp_path):
    out = tmp_path / "syn"
    raw = _synth_cfg(make_image_config, tiny_sd_dir, out, images_per_class=None, ratio=0.05,
                     prompts=["a photo of a {class}", "{class} drawing"], class_names={"a": "airplane"})
    r = synthesize(build_config(raw), quiet=True)
    train = 86  # 96 training images minus the 10 % validation split
    assert r.total == 4 * round(0.05 * train / 4)
    m = json.loads((out / "manifest.json").read_text())
    assert [i["prompt"] for i in m["images"] if i["class"] == "a"] == ["a photo of a airplane", "airplane drawing"][
        :r.total // 4]
    assert default_prompts("/data/cifar10_jpeg.npz") == ["a picture of a {class}"]
    assert default_prompts("mit_indoor67") == ["the inside of a {class}"]


def test_cli_synth_and_errors(make_image_config, make_text_config, tiny_sd_dir, tmp_path, capsys):
    cfg_file = tmp_path / "synth.yaml"
    cfg_file.write_text(yaml.safe_dump(_synth_cfg(make_image_config, tiny_sd_dir, tmp_path / "syn",
                                                  images_per_class=1)))
    assert main(["synth", str(cfg_file), "--quiet"]) == 0
    assert "4 images in" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_synth_cfg(make_image_config, tmp_path / "nowhere", tmp_path / "s2")))
    assert main(["synth", str(bad), "--quiet"]) == 2
    assert "synth.model" in capsys.readouterr().err
    text = make_text_config("t")
    text["synth"] = {"model": str(tiny_sd_dir), "out": str(tmp_path / "s3")}
    tfile = tmp_path / "text.yaml"
    tfile.write_text(yaml.safe_dump(text))
    assert main(["synth", str(tfile), "--quiet"]) == 2
    assert "the task is text" in capsys.readouterr().err


def test_distill_with_synthetic_images(make_image_config, tiny_sd_dir, tmp_path):
    out = tmp_path / "syn"
    synthesize(build_config(_synth_cfg(make_image_config, tiny_sd_dir, out, images_per_class=5)), quiet=True)
    raw = make_image_config("mixed", data__synthetic={"path": str(out), "ratio": 0.1})
    m = run(raw, quiet=True)
    assert m["train"]["train_size"] == 86 and m["train"]["synthetic_size"] == round(0.1 * 86)
    manifest = json.loads((tmp_path / m["teacher"]["cache"]["path"] / "manifest.json").read_text())
    assert manifest["num_samples"] == 86 + 9  # the teacher's outputs cover the synthetic images too
    raw = make_image_config("all", data__synthetic={"path": str(out), "ratio": 2.0})
    assert run(raw, quiet=True)["train"]["synthetic_size"] == 20  # all there are
