"""``report.md`` + ``report.html`` + PNG plots from finished run directories (one comparison).

Runs are grouped into arms by method (``finetune`` for a CE-only student started from given weights); each arm
gets its score mean ± std over its seeds (test accuracy; validation cross-entropy and tokens seen for a language
model), params, training FLOPs (teacher included), wall time and latency, and one line in the plots (the score
against epoch and against cumulative FLOPs). For a classification task the report puts the distillation arms'
compute next to the pre-training route (pre-train the student, then fine-tune it; Farhat & Chen 2024).
"""
from __future__ import annotations

import html
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure

from ..errors import DistilleryError
from ..fileio import atomic_write, atomic_write_text
from .pretraining import PretrainCost, pretraining_cost

BASELINES = ("scratch", "finetune")
_COLORS = ["#1b5e9e", "#d9822b", "#2e8b57", "#b03a48", "#6a4c93", "#4d4d4d", "#c49a00", "#008b8b"]


@dataclass
class Arm:
    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    pretrain_flops: float = 0.0  # a finetune arm started from a distillery pre-training run: that run's FLOPs

    def values(self, *path: str) -> list[float]:
        out = []
        for m in self.runs:
            v: Any = m
            for p in path:
                v = (v or {}).get(p) if isinstance(v, dict) else None
            if v is not None:
                out.append(float(v))
        return out

    def mean(self, *path: str) -> float | None:
        v = self.values(*path)
        return statistics.mean(v) if v else None

    def std(self, *path: str) -> float | None:
        v = self.values(*path)
        return statistics.stdev(v) if len(v) > 1 else None


@dataclass(frozen=True)
class Score:
    """What a comparison ranks arms by: a ``metrics.json["student"]`` field and its per-epoch history key."""

    key: str
    label: str
    history: str
    scale: float
    unit: str
    digits: int


ACCURACY = Score("accuracy", "test accuracy", "test/acc", 100.0, " %", 2)
VAL_ACCURACY = Score("accuracy", "validation accuracy", "val/acc", 100.0, " %", 2)  # curves without per-epoch test
LM_CE = Score("val_ce", "validation cross-entropy (nats/token)", "val/ce", 1.0, "", 4)


def score_of(metrics: dict[str, Any]) -> Score:
    """Language-model runs (clm, mlm) are compared by validation cross-entropy, classifiers by test accuracy."""
    return LM_CE if metrics.get("task") in ("clm", "mlm") else ACCURACY


def pretraining_origin(config: dict[str, Any]) -> float | None:
    """The FLOPs of the distillery language-model pre-training run whose weights the student starts from (its
    ``model/model.safetensors`` or ``student.safetensors``), or None when the weights come from elsewhere."""
    init = (config.get("student") or {}).get("weights")
    if not init:
        return None
    p = Path(init)
    for d in (p.parent, p.parent.parent):
        if (d / "metrics.json").is_file():
            try:
                m = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
            except ValueError:
                return None
            if m.get("task") in ("mlm", "clm"):
                return float((m.get("compute") or {}).get("total_flops") or 0.0)
    return None


def arm_name(metrics: dict[str, Any], config: dict[str, Any], pre: float | None = None) -> str:
    """The arm a run belongs to; ``pre``: the FLOPs of the pre-training run its weights come from
    (:func:`pretraining_origin`)."""
    method = metrics["train"]["method"]
    init = (config.get("student") or {}).get("weights")
    if init:
        if pre is not None and method == "scratch":  # one arm per pre-training budget
            return f"finetune@{pre:.2g}"
        return "finetune" if method == "scratch" else f"{method}+init"
    return method


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Finished run directories among ``paths`` (run directories, or folders holding them, e.g. a comparison)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "metrics.json").is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(d for d in p.iterdir() if (d / "metrics.json").is_file())
        else:
            raise DistilleryError(f"{p}: no such run directory")
    if not found:
        raise DistilleryError(f"no finished runs (directories with metrics.json) in {', '.join(map(str, paths))}")
    return found


def collect(run_dirs: list[Path]) -> dict[str, Arm]:
    arms: dict[str, Arm] = {}
    for d in run_dirs:
        try:
            m = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise DistilleryError(f"{d / 'metrics.json'}: not readable JSON ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:120]}); the file is truncated or damaged: re-run "
                                  "that run, or leave its directory out") from None
        cfg = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else {}
        pre = pretraining_origin(cfg)
        name = arm_name(m, cfg, pre)
        arms.setdefault(name, Arm(name, pretrain_flops=pre or 0.0))
        arms[name].runs.append(m)
        arms[name].dirs.append(d)
    order = {n: i for i, n in enumerate(BASELINES)}
    return dict(sorted(arms.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _fmt_flops(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _pm(mean: float | None, std: float | None, scale: float = 100.0, digits: int = 2, unit: str = " %") -> str:
    if mean is None:
        return "—"
    s = f"{scale * mean:.{digits}f}"
    return s + (f" ± {scale * std:.{digits}f}" if std is not None else "") + unit


def table_rows(arms: dict[str, Arm], score: Score = ACCURACY) -> tuple[list[str], list[list[str]]]:
    lm = score is LM_CE
    head = ["arm", "seeds", score.label, "params", *(["tokens seen"] if lm else []), "training FLOPs (all)",
            "teacher FLOPs", "compute time s", "wall time s", "latency ms/sample", "ended by"]
    rows = []
    for a in arms.values():
        ended = sorted({str((m.get("compute") or {}).get("ended_by", "?")) for m in a.runs})
        tokens = [f"{int(a.mean('train', 'tokens_seen') or 0):,}"] if lm else []
        rows.append([a.name, str(len(a.runs)), _pm(a.mean("student", score.key), a.std("student", score.key),
                                                   score.scale, score.digits, score.unit),
                     f"{int(a.mean('student', 'params') or 0):,}", *tokens,
                     _fmt_flops(None if (flops := a.mean("compute", "total_flops")) is None
                                else flops + a.pretrain_flops),
                     _fmt_flops(a.mean("compute", "teacher_flops")),
                     _pm(a.mean("compute", "compute_time_s"), None, 1.0, 1, ""),
                     _pm(a.mean("train", "wall_time_s"), None, 1.0, 1, ""),
                     _pm(a.mean("student", "latency_ms_per_sample"), None, 1.0, 4, ""), ", ".join(ended)])
    return head, rows


def _curves(arm: Arm, x_key: str, score: Score = ACCURACY) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (over seeds) score per epoch, against ``x_key`` (epoch or flops), up to the shortest run."""
    hists = [[h for h in m["history"] if score.history in h and x_key in h] for m in arm.runs]
    n = min(len(h) for h in hists)
    xs = np.array([[h[i][x_key] for i in range(n)] for h in hists], dtype=float).mean(0)
    if x_key == "flops":  # the pre-training route: its pre-training FLOPs come first
        xs = xs + arm.pretrain_flops
    acc = np.array([[h[i][score.history] for i in range(n)] for h in hists], dtype=float)
    return xs, acc.mean(0), acc.std(0)


def plot(arms: dict[str, Arm], x_key: str, path: Path, title: str, score: Score = ACCURACY) -> Path:
    if score is ACCURACY and not any(score.history in h for a in arms.values() for m in a.runs
                                     for h in m["history"]):
        score = VAL_ACCURACY  # the test split was scored once, at the end (train.test_every_epoch off)
        title = title.replace(ACCURACY.label, VAL_ACCURACY.label)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for i, a in enumerate(arms.values()):
        xs, mean, std = _curves(a, x_key, score)
        if not len(xs):
            continue
        c, k = _COLORS[i % len(_COLORS)], score.scale
        ax.plot(xs, k * mean, marker="o", ms=3, color=c, label=f"{a.name} (n={len(a.runs)})")
        if len(a.runs) > 1:
            ax.fill_between(xs, k * (mean - std), k * (mean + std), color=c, alpha=0.15, lw=0)
    if x_key == "flops":
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short decade overlap
        ax.set_xlabel("cumulative training FLOPs (teacher head, cache and live forward included)")
    else:
        ax.set_xlabel("epoch")
    ax.set_ylabel(score.label + (" (%)" if score.unit.strip() == "%" else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))
    return path


def _percent(x: float) -> str:
    """A share as a percentage with enough decimals to stay informative next to 0 or 100 %."""
    import math

    small = min(x, 1 - x)
    decimals = 2 if small >= 1e-4 else min(8, 2 - int(math.floor(math.log10(max(small, 1e-12) * 100))))
    return f"{100 * x:.{decimals}f} %"


def pretraining_lines(arms: dict[str, Arm], cost: PretrainCost | None) -> list[str]:
    """Distillation's compute against pre-training + fine-tuning the same student."""
    if cost is None:
        return []
    ft = arms.get("finetune") or arms.get("scratch")
    ft_flops = ft.mean("compute", "total_flops") if ft is not None else None
    source = cost.source if cost.source.startswith(cost.kind) else f"{cost.kind}: {cost.source}"
    lines = [f"- Pre-training the student: **{cost.flops:.3g} FLOPs** ({source})."]
    if ft_flops is not None and ft is not None:
        what = "the `finetune` arm, measured" if ft.name == "finetune" else (
            "the `scratch` arm as a stand-in: the same student trained the same epochs on the task")
        lines.append(f"- Fine-tuning it on the task: {ft_flops:.3g} FLOPs ({what}).")
    route = cost.flops + (ft_flops or 0.0)
    lines.append(f"- Pre-training route in all: **{route:.3g} FLOPs**.")
    score = score_of(ft.runs[0]) if ft is not None and ft.runs else ACCURACY
    base = ft.mean("student", score.key) if ft is not None else None
    for a in arms.values():
        if a.name in BASELINES or a.pretrain_flops:
            continue
        f = a.mean("compute", "total_flops")
        if not f:
            continue
        mine = a.mean("student", score.key)
        share = (f"{_percent(f / route)} of the pre-training route's FLOPs ({f:.3g}, teacher head, cache and student "
                 "steps)")
        if mine is None or base is None or ft is None:
            lines.append(f"- `{a.name}` distillation: {share}; no {score.label} to compare, so no saving is claimed.")
            continue
        better = mine >= base if score is ACCURACY else mine <= base
        k, u, d = score.scale, score.unit, score.digits
        verdict = (f"`{a.name}` {'matches' if mine == base else 'beats'} `{ft.name}`" if better
                   else f"`{ft.name}` beats `{a.name}`")
        head = (f"- {verdict} on {score.label} ({k * mine:.{d}f}{u} vs {k * base:.{d}f}{u}): ")
        if better:
            lines.append(head + f"**{share}**, {_percent(1 - f / route)} saved ({route / f:.3g}x less).")
        else:
            lines.append(head + f"the distilled student is less accurate, so no saving is claimed ({share}).")
    return lines


def glue_lines(arms: dict[str, Arm]) -> list[str]:
    """The GLUE dev table of mlm students (Bui et al. 2024), each task's score averaged over an arm's seeds."""
    if not any(m.get("glue") for a in arms.values() for m in a.runs):
        return []
    from ..lm.glue import glue_markdown

    table: dict[str, dict[str, dict[str, Any]]] = {}
    for a in arms.values():
        tasks = sorted({t for m in a.runs for t in (m.get("glue") or {})})
        table[a.name] = {t: {"metric": next(m["glue"][t]["metric"] for m in a.runs if t in (m.get("glue") or {})),
                             "score": statistics.mean(m["glue"][t]["score"] for m in a.runs
                                                      if t in (m.get("glue") or {}))} for t in tasks}
    first = next(m["glue"] for a in arms.values() for m in a.runs if m.get("glue"))
    any_task = next(iter(first.values()))
    return ["## GLUE dev scores (x100) of the pre-trained students", "", glue_markdown(table), "",
            f"Each student fine-tuned on {any_task.get('train_examples', '?')} training examples per task (or "
            "fewer), the best dev score over the learning-rate grid and epochs; mean over seeds."]


def write_report(run_dirs: list[Path], out: Path, title: str = "distillery comparison",
                 pretrain_run: str | Path | None = None, commands: list[str] | None = None,
                 sections: list[str] | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` under ``out``; returns their paths. ``sections``:
    extra Markdown lines placed after the table (e.g. the GLUE table of an mlm comparison)."""
    arms = collect(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(arms.values()))
    r0 = first.runs[0]
    score = score_of(r0)
    spec = r0["student"]["spec"]
    cost = pretraining_cost(spec, first.dirs[0], pretrain_run) if score is ACCURACY else None
    p_epoch = plot(arms, "epoch", out / "plots" / "accuracy_vs_epoch.png", f"{score.label} by epoch", score)
    p_flops = plot(arms, "flops", out / "plots" / "accuracy_vs_flops.png", f"{score.label} by training compute",
                   score)
    head, rows = table_rows(arms, score)
    teacher = next((m["teacher"] for a in arms.values() for m in a.runs if m.get("teacher")), None)
    facts = [f"student `{spec}`"]
    if teacher and score is ACCURACY:
        facts.append(f"teacher `{teacher['spec']}` (test accuracy {100 * teacher['accuracy']:.2f} %, head "
                     f"{teacher['head']})")
    elif teacher:
        ce = teacher.get("val_ce")
        facts.append(f"teacher `{teacher['spec']}`" + (f" (validation cross-entropy {ce:.4f})" if ce is not None
                                                         else " (no MLM head)"))
    size = (f"{r0['train']['train_size']:,} training samples" if score is ACCURACY
            else f"{r0['train']['unique_tokens']:,} unique training tokens")
    facts.append(f"{size}; seeds "
                 f"{sorted({int(m['train']['seed']) for a in arms.values() for m in a.runs})}")
    budgets = {json.dumps((m.get("compute") or {}).get("budget")) for a in arms.values() for m in a.runs}
    if budgets != {"null"}:
        facts.append(f"budget {', '.join(sorted(budgets))}")
    machine = (r0.get("compute") or {}).get("peak_source", "")
    pre = pretraining_lines(arms, cost)

    md = [f"# {title}", "", "; ".join(facts) + ".", ""]
    md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    chosen = ("Test accuracy: the checkpoint selected on validation accuracy." if score is ACCURACY else
              "Validation cross-entropy at the predicted tokens (next tokens; masked positions for mlm), of the "
              "checkpoint with the lowest.")
    md += ["", f"{chosen} Training FLOPs count the teacher's "
           "head preparation, cache build or live forward passes, and the student's forward and backward passes "
           "(FlopCounterMode; evaluation excluded). Compute time: the same phases' wall-clock seconds."
           + (" A `finetune@F` arm starts from the student of a distillery language-model pre-training run that "
              "cost F FLOPs; its training FLOPs (table and plot) include them: the pre-training route in all."
              if any(a.pretrain_flops for a in arms.values()) else ""), ""]
    sections = [*glue_lines(arms), *(sections or [])]
    md += [*sections, *([""] if sections else [])]
    md += ["## Plots", "", f"![accuracy by epoch](plots/{p_epoch.name})", "",
           f"![accuracy by FLOPs](plots/{p_flops.name})", ""]
    if pre:
        md += ["## Distillation instead of pre-training", "", *pre, ""]
    if commands:
        md += ["## Commands", "", "```", *commands, "```", ""]
    md += ["## Runs", "", *[f"- `{a.name}`: " + ", ".join(f"`{d}`" for d in a.dirs) for a in arms.values()], ""]
    if machine:
        md += [f"Peak FLOP/s for MFU: {machine}.", ""]
    atomic_write_text(out / "report.md", "\n".join(md))
    atomic_write_text(out / "report.html", _html(title, facts, head, rows, [p_epoch.name, p_flops.name], pre, commands))
    return {"md": out / "report.md", "html": out / "report.html", "epoch_png": p_epoch, "flops_png": p_flops}


def _inline(text: str) -> str:
    """Escape, then render the two Markdown marks the report uses (**bold**, `code`)."""
    import re

    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def _html(title: str, facts: list[str], head: list[str], rows: list[list[str]], pngs: list[str], pre: list[str],
          commands: list[str] | None) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    imgs = "".join(f'<img src="plots/{p}" alt="{p}" style="max-width:48%">' for p in pngs)
    pre_html = ("<h2>Distillation instead of pre-training</h2><ul>" + "".join(
        f"<li>{_inline(x[2:])}</li>" for x in pre) + "</ul>") if pre else ""
    cmd = f"<h2>Commands</h2><pre>{html.escape(chr(10).join(commands))}</pre>" if commands else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
            f"</style></head><body><h1>{html.escape(title)}</h1><p>{_inline('; '.join(facts))}.</p>"
            f"<table><tr>{th}</tr>{trs}</table><h2>Plots</h2>{imgs}{pre_html}{cmd}</body></html>")
