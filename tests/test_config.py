from pathlib import Path

import pytest
import yaml

from distillery.config import apply_overrides, build_config, load_config
from distillery.errors import DistilleryError


def _write(tmp_path: Path, raw: dict) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_valid_config_and_overrides(make_text_config, tmp_path):
    p = _write(tmp_path, make_text_config())
    cfg = load_config(p, ["train.epochs=7", "distill.temperature=2.5", "data.shots_per_class=3"], method="kd")
    assert cfg.train.epochs == 7 and cfg.distill.temperature == 2.5 and cfg.data.shots_per_class == 3
    assert cfg.distill.method == "kd"


def test_unknown_key_reported_with_path(make_text_config):
    raw = make_text_config()
    raw["train"]["epocs"] = 3
    with pytest.raises(DistilleryError, match=r"train\.epocs: unknown key"):
        build_config(raw)


def test_wrong_type_reported_with_path(make_text_config):
    raw = make_text_config()
    raw["train"]["epochs"] = "many"
    with pytest.raises(DistilleryError, match=r"train\.epochs"):
        build_config(raw)


def test_missing_section(make_text_config):
    raw = make_text_config()
    del raw["student"]
    with pytest.raises(DistilleryError, match=r"student: required key is missing"):
        build_config(raw)


def test_missing_data_file(make_text_config, tmp_path):
    raw = make_text_config(data__source=str(tmp_path / "nope.csv"))
    with pytest.raises(DistilleryError, match=r"data\.source: file or folder not found"):
        build_config(raw)


def test_missing_teacher_weights(make_image_config, tmp_path):
    raw = make_image_config()
    raw["teacher"]["weights"] = str(tmp_path / "missing.th")
    with pytest.raises(DistilleryError, match=r"teacher\.weights"):
        build_config(raw)


def test_relative_paths_resolve_against_config_dir(make_text_config, tmp_path, text_data_dir):
    raw = make_text_config()
    sub = tmp_path / "configs"
    sub.mkdir()
    (sub / "data").symlink_to(text_data_dir)
    raw["data"]["source"] = "data"
    p = sub / "exp.yaml"
    p.write_text(yaml.safe_dump(raw))
    cfg = load_config(p)
    assert Path(cfg.data.source).resolve() == text_data_dir.resolve()


def test_override_syntax_errors():
    with pytest.raises(DistilleryError, match="KEY=VALUE"):
        apply_overrides({}, ["train.epochs"])
    assert apply_overrides({"a": {"b": 1}}, ["a.c=[1, 2]", "x.y=null"]) == {"a": {"b": 1, "c": [1, 2]},
                                                                            "x": {"y": None}}


def test_invalid_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("data: [unclosed\n")
    with pytest.raises(DistilleryError, match="not valid YAML"):
        load_config(p)


def test_teacher_cache_off_survives_yaml_booleans(make_text_config, tmp_path):
    p = _write(tmp_path, make_text_config())
    assert load_config(p, ["teacher.cache=off"]).teacher.cache == "off"  # YAML reads a bare off as False
    assert load_config(p, ["teacher.cache=runs/cache"]).teacher.cache == "runs/cache"
    raw = make_text_config()
    raw["teacher"]["cache"] = "sometimes"
    assert build_config(raw).teacher.cache == "sometimes"  # a directory name


def test_shipped_ensemble_config_is_the_measured_arm():
    """configs/cifar10_ensemble_to_resnet20.yaml is exactly what benchmarks/cifar_recipe.py measured as
    "kd (ens4)" (the ResNet-56 config with that arm's overrides), so the figures quoted for it are its own."""
    import json

    from distillery.config import Config, load_raw

    root = Path(__file__).resolve().parents[1]
    shipped = load_raw(root / "configs" / "cifar10_ensemble_to_resnet20.yaml")
    arm = json.loads((root / "benchmarks" / "results" / "cifar_recipe.json").read_text())
    arm = arm["studies"]["e25"]["arms"]["kd (ens4)"]
    run_only = ("train.progress=", "train.num_threads=")  # how the benchmark ran, not the recipe
    over = [o for o in arm["overrides"] if not o.startswith(run_only)]
    measured = apply_overrides(load_raw(root / "configs" / "cifar10_resnet56_to_resnet20.yaml"),
                               [*over, "distill.method=kd", f"output.dir={shipped['output']['dir']}"])

    def files(raw: dict) -> dict:  # the weights by file name (the study passed absolute paths)
        raw["teacher"]["weights"] = [Path(w).name for w in raw["teacher"]["weights"]]
        return raw

    assert len(arm["per_seed"]) >= 3  # the docs quote its 3-seed figures
    assert Config.model_validate(files(shipped)) == Config.model_validate(files(measured))
