"""``distillery compare``: the same student, data and seeds trained several ways, then one report.

Arms are method presets (``scratch``, ``kd``, ``au``, ...) plus ``finetune``: the student started from given
pre-trained weights and trained with cross-entropy, the route distillation replaces (Farhat & Chen 2024). With a
budget every arm gets the same compute (Bui et al. 2024: equal wall-clock; or equal FLOPs or steps). Finished
arms are reused, so an interrupted comparison continues where it stopped.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from ..config import apply_overrides, build_config, load_raw, parse_value
from ..errors import DistilleryError
from ..fileio import atomic_write_text
from .build import write_report


def parse_budget(text: str | None) -> dict[str, float] | None:
    """``flops=1e15`` | ``hours=0.5`` | ``steps=1000`` -> ``{"flops": 1e15}``."""
    if not text:
        return None
    if "=" not in text:
        raise DistilleryError(f"--budget {text!r}: expected flops=N, hours=N or steps=N")
    k, v = text.split("=", 1)
    return {k.strip(): parse_value(v.strip())}


def _weights_path(finetune: str) -> Path:
    p = Path(finetune).expanduser()
    if p.is_dir():  # a classification run (student.safetensors) or a language-model pre-training run (model/)
        for name in ("student.safetensors", "model/model.safetensors"):
            if (p / name).is_file():
                return p / name
        raise DistilleryError(f"--finetune-weights {finetune}: a directory without student.safetensors (a "
                              "classification run) or model/model.safetensors (a masked-LM pre-training run)")
    if not p.is_file():
        raise DistilleryError(f"--finetune-weights {finetune}: file not found")
    return p


def _same_config(run_dir: Path, cfg) -> bool:
    """Whether ``run_dir`` holds a run of exactly ``cfg`` (its saved config.yaml), so it can be resumed."""
    import yaml

    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return False
    got = yaml.safe_load(saved.read_text())
    want = yaml.safe_load(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    # keys a run resolves when the config leaves them open (train.precision auto, inferred data columns): the
    # saved run's resolution stands for a config that does not set them
    for section, key in (("train", "precision"), ("data", "text_column"), ("data", "label_column")):
        if key not in getattr(cfg, section).model_fields_set and isinstance(got, dict) and section in got:
            want[section][key] = got[section].get(key, want[section][key])
    # how a run is executed, not what it computes: a study resumed with another thread count or progress display
    # is the same study
    for key in ("num_threads", "progress"):
        if isinstance(got, dict) and isinstance(got.get("train"), dict) and key in got["train"]:
            want["train"][key] = got["train"][key]
    # a setting added to distillery after the run was made, at its default, is the run's behaviour: not a change
    if isinstance(got, dict):
        for section, values in want.items():
            part = getattr(cfg, section, None)
            fields = getattr(type(part), "model_fields", {}) if part is not None else {}
            if isinstance(values, dict) and isinstance(got.get(section), dict):
                for key in [k for k in values if k not in got[section] and k in fields]:
                    if values[key] == fields[key].default:
                        del values[key]
    return got == want


REPORT_FILES = {"compare.json", "report.md", "report.html", "plots"}


def _refuse_foreign(root: Path, arm_dirs: set[str]) -> None:
    """A comparison writes only into an empty folder or one that a comparison wrote (its compare.json, report,
    plots and arm run directories): it never overwrites a report.md or anything else that is not its own."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DistilleryError(f"--out {root} is a file; give a folder for the runs and the report")
    entries = [p for p in root.iterdir() if p.name != ".lock"]
    if not entries or (root / "compare.json").is_file():
        return
    foreign = [p.name for p in entries if p.name not in REPORT_FILES and p.name not in arm_dirs
               and not (p / "config.yaml").is_file()]
    if foreign or (root / "report.md").exists():
        shown = ", ".join(sorted(foreign)[:3]) or "report.md"
        raise DistilleryError(f"--out {root} holds files that no comparison wrote ({shown}); choose an empty or "
                              "new folder (nothing there is overwritten)")


def pretraining_run_config(path: str, flops: float, out: Path, overrides: list[str] | None):
    """The pre-training run for ``flops``: its config, the study's execution settings (threads, progress) applied."""
    keep = [o for o in (overrides or []) if o.split("=", 1)[0].strip() in ("train.num_threads", "train.progress")]
    raw = apply_overrides(load_raw(path), [*keep, f"output.dir={out}"])
    raw.setdefault("train", {})["budget"] = {"flops": flops}
    return build_config(raw, origin=path, base_dir=Path(path).resolve().parent)


def run_or_reuse(cfg, what: str, quiet: bool = False) -> None:
    """Run ``cfg`` into its ``output.dir``: reused when a run of the same config finished there, resumed when one
    was interrupted, refused (one error line) when the folder holds a run of another config."""
    from ..api import resume, run
    from ..runtime import log

    d = Path(cfg.output.dir)
    if (d / "metrics.json").is_file():
        if not _same_config(d, cfg):
            raise DistilleryError(f"{d} holds a finished run of another config; remove it (or choose another "
                                  "--out) to run that arm with this one")
        log(f"{what} already finished ({d})", quiet)
    elif d.exists() and any(d.iterdir()):
        if not _same_config(d, cfg):
            raise DistilleryError(f"{d} holds an unfinished run of another config; remove it to run that arm again")
        log(f"{what}: continuing the interrupted run in {d}", quiet)
        resume(d, quiet=quiet)
    else:
        log(what, quiet)
        run(cfg, quiet=quiet)


def compare(config: str, arms: list[str], seeds: int = 1, budget: str | None = None, out: str | None = None,
            overrides: list[str] | None = None, finetune_weights: str | None = None, pretrain_run: str | None = None,
            quiet: bool = False, command: str | None = None, pretrain_config: str | None = None,
            pretrain_budgets: list[float] | None = None) -> dict[str, Path]:
    """Run every arm for ``seeds`` seeds under ``out`` (default: the config's output.dir); write the report.

    With ``pretrain_config`` (a language-model pre-training config of the same student architecture, e.g.
    configs/banking77_mlm_pretrain.yaml) and ``pretrain_budgets`` (FLOPs), the pre-training route is an arm per
    budget: the student pre-trained for that budget (``pretrain_<B>/``), then fine-tuned like the ``finetune``
    arm (``finetune@<B>``; Farhat & Chen 2024's comparison), its pre-training FLOPs counted in the report.
    Finished runs are reused and an interrupted run of the same config is resumed, so a study continues where it
    stopped."""
    from ..losses import PRESETS

    raw = apply_overrides(load_raw(config), overrides or [])
    base_dir = Path(config).resolve().parent
    arms = [a.strip() for a in arms if a.strip()]
    if not arms and not pretrain_budgets:
        raise DistilleryError("--arms: give at least one arm, e.g. --arms scratch,kd,au")
    unknown = [a for a in arms if a != "finetune" and a not in PRESETS]
    if unknown:
        raise DistilleryError(f"--arms: unknown arm(s) {', '.join(unknown)}; choose from finetune, "
                              f"{', '.join(PRESETS)}")
    if seeds < 1:
        raise DistilleryError("--seeds must be at least 1")
    init = finetune_weights or (raw.get("student") or {}).get("weights")
    if "finetune" in arms and not init:
        raise DistilleryError("--arms finetune needs pre-trained student weights: --finetune-weights PATH (a "
                              "weights file or a distillery run directory) or student.weights in the config")
    init_path = str(_weights_path(init)) if "finetune" in arms and finetune_weights else init
    budget_d = parse_budget(budget)
    root = Path(out or raw.get("output", {}).get("dir") or "runs/compare").expanduser()
    if pretrain_budgets and not pretrain_config:
        raise DistilleryError("--pretrain-budgets needs --pretrain-config: the pre-training config of the student")
    pre_dirs = {b: root / f"pretrain_{b:g}" for b in (pretrain_budgets or [])}
    base_seed = int((raw.get("train") or {}).get("seed", 0))
    def arm_config(method: str, weights: str | None, seed: int, name: str):
        r = copy.deepcopy(raw)
        r.setdefault("distill", {})["method"] = method
        r.setdefault("student", {})["weights"] = weights
        r.setdefault("train", {})["seed"] = seed
        if budget_d is not None:
            r["train"]["budget"] = budget_d
        r.setdefault("output", {})["dir"] = str(root / f"{name}_s{seed}")
        r["output"].setdefault("experiment", f"compare-{Path(config).stem}")  # the arms: runs of one experiment
        return build_config(r, origin=config, base_dir=base_dir)

    seeds_ = [base_seed + i for i in range(seeds)]
    plan = [(arm, s, arm_config("scratch" if arm == "finetune" else arm, init_path if arm == "finetune" else None,
                                s, arm)) for arm in arms for s in seeds_]  # all checked before anything runs
    # the pre-training route: one fine-tune arm per budget, checked now without its weights (they do not exist yet)
    route = [(b, s) for b in pre_dirs for s in seeds_]
    plan += [(f"finetune@{b:g}", s, arm_config("scratch", None, s, f"finetune_{b:g}")) for b, s in route]
    pre_cfgs = {b: pretraining_run_config(pretrain_config, b, d, overrides) for b, d in pre_dirs.items()}  # type: ignore[arg-type]
    _refuse_foreign(root, {Path(p[2].output.dir).name for p in plan} | {d.name for d in pre_dirs.values()})
    root.mkdir(parents=True, exist_ok=True)
    for b, pcfg in pre_cfgs.items():
        run_or_reuse(pcfg, f"compare: pre-training the student for {b:g} FLOPs", quiet)
    first = len(plan) - len(route)
    plan[first:] = [(f"finetune@{b:g}", s, arm_config("scratch", str(pre_dirs[b] / "model" / "model.safetensors"),
                                                      s, f"finetune_{b:g}")) for b, s in route]
    for k, (arm, seed, cfg) in enumerate(plan, 1):
        run_or_reuse(cfg, f"compare {k}/{len(plan)}: {arm} seed {seed}", quiet)
    atomic_write_text(root / "compare.json", json.dumps(
        {"config": str(config), "arms": arms, "seeds": seeds, "budget": budget_d, "overrides": overrides or [],
         "pretrain_config": pretrain_config, "pretrain_budgets": pretrain_budgets or [],
         "finetune_weights": init_path, "pretrain_run": pretrain_run, "runs": [p[2].output.dir for p in plan],
         "command": command},
        indent=1))
    return write_report([Path(p[2].output.dir) for p in plan], root, title=f"distillery compare: {Path(config).name}",
                        pretrain_run=pretrain_run, commands=[command] if command else None)
