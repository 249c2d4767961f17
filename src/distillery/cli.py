"""The ``distillery`` command line: run, synth, eval, predict, export, demo, methods, compare, report, plan."""
from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from .errors import DistilleryError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train small models without pre-training them: distill a pre-trained teacher into a "
                       "randomly initialised student.")


@app.command("run")
def run_cmd(
    config: Annotated[str | None, typer.Argument(help="experiment YAML file")] = None,
    method: Annotated[str | None, typer.Option("--method", "-m", help="method preset (scratch, kd, au, ...)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key: a.b=value (repeatable)")]
    = None,
    resume: Annotated[str | None, typer.Option("--resume", help="continue an interrupted run directory from its "
                                               "last checkpoint")] = None,
    data: Annotated[str | None, typer.Option("--data", help="without a config: the task's data (folder of "
                                             "train/test files, a file, an image folder or a .npz)")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="without a config: the teacher spec (hf:, "
                                                "timm:, torchvision: or a built-in)")] = None,
    student: Annotated[str | None, typer.Option("--student", help="without a config: the student spec "
                                                "(default: transformer for text, resnet20 for images)")] = None,
    teacher_weights: Annotated[str | None, typer.Option("--teacher-weights", help="local teacher weights")] = None,
    out: Annotated[str | None, typer.Option("--out", help="without a config: the run directory")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train one student as the config says (or, with --data and --teacher, with the default recipe for the
    data's kind); write the run directory (output.dir) with the resolved config."""
    from .api import resume as resume_run
    from .api import run
    from .config import load_config

    recipe = [n for n, v in (("--data", data), ("--teacher", teacher), ("--student", student),
                             ("--teacher-weights", teacher_weights), ("--out", out)) if v is not None]
    if resume is not None:
        if config is not None or method is not None or set_ or recipe:
            raise DistilleryError("--resume takes the run directory only: its config.yaml says the rest")
        metrics = resume_run(resume, quiet=quiet)
    elif recipe:
        from .recipes import recipe_config

        if config is not None:
            raise DistilleryError(f"{recipe[0]} builds a config without YAML: give either a config file or "
                                  "--data and --teacher, not both")
        if data is None or teacher is None:
            raise DistilleryError("without a config file, give both --data PATH and --teacher SPEC")
        metrics = run(recipe_config(data, teacher, student, teacher_weights, method, out, set_ or []), quiet=quiet)
    elif config is None:
        raise DistilleryError("give an experiment YAML file, --data PATH --teacher SPEC, or --resume RUN_DIR")
    else:
        metrics = run(load_config(config, set_ or [], method), quiet=quiet)
    if "student" not in metrics:  # not rank 0 of a distributed run: rank 0 reports
        return
    if metrics.get("task") in ("clm", "mlm"):
        t = metrics["teacher"]
        typer.echo(f"student validation cross-entropy {metrics['student']['val_ce']:.4f}, "
                   f"{metrics['student']['params']:,} params, {metrics['train']['tokens_seen']:,} tokens"
                   + (f"; teacher {t['val_ce']:.4f}" if t and t.get("val_ce") is not None else ""))
        return
    s, t = metrics["student"], metrics["teacher"]
    best = f" (best {s['best_accuracy']:.4f})" if s.get("best_accuracy") is not None else ""
    line = f"student accuracy {s['accuracy']:.4f}{best}, {s['params']:,} params"
    if t:
        line += f"; teacher accuracy {t['accuracy']:.4f}"
    typer.echo(line)


@app.command("synth")
def synth_cmd(
    config: Annotated[str, typer.Argument(help="experiment YAML file (its data section and synth section)")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key: a.b=value (repeatable)")]
    = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Generate a labelled synthetic image set with a text-to-image diffusion model (resumable)."""
    from .config import load_config
    from .synthetic import synthesize

    r = synthesize(load_config(config, set_ or []), quiet=quiet)
    typer.echo(f"{r.total} images in {r.out} ({r.generated} generated, {r.kept} kept) in {r.seconds:.1f} s on "
               f"{r.device}; use them with --set data.synthetic.path={r.out}")


@app.command("eval")
def eval_cmd(run_dir: Annotated[str, typer.Argument(help="a finished run directory, or an export folder")]) -> None:
    """Evaluate a run's student on its test split, from the run directory alone."""
    from .api import evaluate

    typer.echo(json.dumps(evaluate(run_dir)))


@app.command("predict")
def predict_cmd(
    run_dir: Annotated[str, typer.Argument(help="a finished run directory, or an export folder")],
    inputs: Annotated[list[str], typer.Argument(help="texts, a .txt file with one text per line, or image paths")],
) -> None:
    """Predict with a run's student (or an export folder's ONNX model); prints one JSON line per input."""
    from .export.runner import is_export

    if is_export(run_dir):  # ONNX Runtime and the tokenizer only: no torch is imported
        from .export.runner import OnnxStudent

        def predict(d, items):
            return OnnxStudent(d).predict(items)
    else:
        from .api import predict

    items: list[str] = []
    for x in inputs:
        if x.endswith(".txt") and os.path.isfile(x):
            try:
                with open(x, encoding="utf-8") as f:
                    lines = [line.rstrip("\n") for line in f if line.strip()]
            except (OSError, UnicodeDecodeError) as e:
                raise DistilleryError(f"{x}: could not be read as UTF-8 text ({type(e).__name__})") from None
            if not lines:
                raise DistilleryError(f"{x}: the file has no non-blank lines; put one text per line")
            items += lines
        else:
            items.append(x)
    for row in predict(run_dir, items):
        typer.echo(json.dumps(row))


@app.command("export")
def export_cmd(
    run_dir: Annotated[str, typer.Argument(help="a finished run directory")],
    fmt: Annotated[str, typer.Option("--format", help="export format")] = "onnx",
    quantize: Annotated[str | None, typer.Option("--quantize", help="int8: also an int8 model (ONNX Runtime)")]
    = None,
    out: Annotated[str | None, typer.Option("--out", help="the export folder (default: RUN_DIR/export)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Export a run's student to ONNX (parity-checked against PyTorch), optionally int8; prints export.json."""
    from .export import export_run

    info = export_run(run_dir, out, fmt, quantize, quiet)
    typer.echo(json.dumps({k: info[k] for k in ("model", "files", "parity", "accuracy") if k in info}))


@app.command("demo")
def demo_cmd(
    out: Annotated[str | None, typer.Option(help="keep the demo runs in this directory (default: temporary)")]
    = None,
    epochs: Annotated[int, typer.Option(help="student epochs")] = 30,
) -> None:
    """Offline demo: MiniLM teacher -> text CNN student on a small shipped dataset; prints one table."""
    from .demo import demo

    demo(out, epochs=epochs)


@app.command("methods")
def methods_cmd() -> None:
    """List method presets and registered loss terms with their references and needs."""
    from rich.console import Console
    from rich.table import Table

    from .losses import PRESET_HELP, PRESETS, TERMS

    console = Console()
    t = Table(title="method presets (--method)")
    for c in ("method", "terms (weights)", "what"):
        t.add_column(c)
    for name, terms in PRESETS.items():
        t.add_row(name, ", ".join(f"{k}={v:g}" for k, v in terms.items()), PRESET_HELP.get(name, ""))
    console.print(t)
    t = Table(title="loss terms (distill.terms)")
    for c in ("term", "needs from student", "needs from teacher", "reference"):
        t.add_column(c)
    for name, cls in sorted(TERMS.items()):
        t.add_row(name, ", ".join(sorted(cls.needs_student)), ", ".join(sorted(cls.needs_teacher)) or "-",
                  cls.reference)
    console.print(t)


@app.command("compare")
def compare_cmd(
    config: Annotated[str, typer.Argument(help="experiment YAML file")],
    arms: Annotated[str, typer.Option(help="comma-separated: finetune and/or method presets")] = "scratch,kd,au",
    seeds: Annotated[int, typer.Option(help="seeds per arm (train.seed, +1, ...)")] = 1,
    budget: Annotated[str | None, typer.Option(help="equal compute for every arm: flops=N, hours=N or steps=N")]
    = None,
    out: Annotated[str | None, typer.Option(help="where runs and report go (default: the config's output.dir)")]
    = None,
    finetune_weights: Annotated[str | None, typer.Option(help="pre-trained student weights for the finetune arm "
                                                         "(file or run directory)")] = None,
    pretrain_run: Annotated[str | None, typer.Option(help="a distillery run that pre-trained the student: its "
                                                     "measured FLOPs are the pre-training cost")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key: a.b=value")] = None,
    pretrain_config: Annotated[str | None, typer.Option(help="the pre-training route: a language-model pre-training "
                                                        "config of the same student (e.g. configs/"
                                                        "banking77_mlm_pretrain.yaml)")] = None,
    pretrain_budgets: Annotated[str | None, typer.Option(help="comma-separated FLOPs: one pre-training run and one "
                                                         "finetune@B arm per budget, e.g. 1e13,1e14,3e14")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train the same student several ways (same data and seeds) and write report.md/.html with plots."""
    import shlex

    from .report.compare import compare

    budgets: list[float] = []
    try:
        budgets = [float(b) for b in (pretrain_budgets or "").split(",") if b.strip()]
    except ValueError:
        budgets = [-1.0]
    if min(budgets, default=1.0) <= 0:
        raise DistilleryError(f"--pretrain-budgets {pretrain_budgets!r}: expected FLOPs, e.g. 1e13,1e14")
    paths = compare(config, arms.split(","), seeds, budget, out, set_ or [], finetune_weights, pretrain_run, quiet,
                    command="distillery compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
                    pretrain_config=pretrain_config, pretrain_budgets=budgets)
    typer.echo(f"report: {paths['md']} and {paths['html']}")


@app.command("glue")
def glue_cmd(
    model_dirs: Annotated[list[str], typer.Argument(help="local Hugging Face BERT model folders (with tokenizer)")],
    tasks: Annotated[str, typer.Option(help="comma-separated GLUE tasks")] = "SST-2,CoLA,MRPC,RTE,STS-B",
    source: Annotated[str, typer.Option(help="folder holding the GLUE task folders, or a Hub dataset id")]
    = "nyu-mll/glue",
    lrs: Annotated[str, typer.Option(help="comma-separated learning rates (best dev score over them is reported)")]
    = "1e-4,3e-4",
    epochs: Annotated[int, typer.Option(help="fine-tuning epochs per learning rate")] = 3,
    batch_size: Annotated[int, typer.Option(help="training batch size")] = 32,
    max_length: Annotated[int, typer.Option(help="max tokens per example")] = 128,
    max_train: Annotated[int | None, typer.Option(help="subsample each train split to N examples (seeded)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    bf16: Annotated[bool, typer.Option(help="bfloat16 autocast")] = False,
    out: Annotated[str | None, typer.Option(help="write the results as JSON here")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fine-tune pre-trained BERT students on GLUE tasks and print their dev scores (Bui et al. 2024)."""
    from pathlib import Path

    from .lm.glue import glue_markdown, glue_table

    try:
        lr_list = [float(x) for x in lrs.split(",") if x.strip()]
    except ValueError:
        raise DistilleryError(f"--lrs: not a comma-separated list of numbers: {lrs!r}") from None
    names = [Path(d).name or d for d in model_dirs]
    arms = {(n if names.count(n) == 1 else d): d for n, d in zip(names, model_dirs, strict=True)}
    table = glue_table(arms, [t for t in tasks.split(",") if t.strip()], source, lrs=lr_list, epochs=epochs,
                       batch_size=batch_size, max_length=max_length, max_train=max_train, seed=seed, bf16=bf16,
                       progress=not quiet)
    typer.echo(glue_markdown(table))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(table, indent=2))
        typer.echo(f"results: {out}")


@app.command("report")
def report_cmd(
    runs: Annotated[list[str], typer.Argument(help="run directories, or folders holding them (a comparison)")],
    out: Annotated[str | None, typer.Option(help="where the report goes (default: the first folder given)")] = None,
    pretrain_run: Annotated[str | None, typer.Option(help="a distillery run that pre-trained the student")] = None,
    title: Annotated[str, typer.Option()] = "distillery comparison",
) -> None:
    """Rebuild report.md/.html and the plots from finished runs."""
    from pathlib import Path

    from .report.build import find_runs, write_report

    dirs = find_runs(runs)
    first = Path(runs[0])
    target = Path(out) if out else (first.parent if (first / "metrics.json").is_file() else first)
    import json

    saved = json.loads((target / "compare.json").read_text()) if (target / "compare.json").is_file() else {}
    paths = write_report(dirs, target, title=title, pretrain_run=pretrain_run or saved.get("pretrain_run"),
                         commands=[saved["command"]] if saved.get("command") else None)
    typer.echo(f"report: {paths['md']} and {paths['html']}")


def _register_optional() -> None:
    try:
        from .scaling.cli import plan
    except ImportError:
        return
    app.command("plan")(plan)


_register_optional()


def _click_exceptions() -> dict[str, tuple[type, ...]]:
    """Click's exception classes by name (``ClickException``, ``NoArgsIsHelpError``, ``Abort``, ``Exit``), from
    click itself and from the copy that typer vendors (``typer._click``, ``typer.exceptions``): which ones are
    raised depends on the typer version pip resolved."""
    import importlib

    found: dict[str, list[type]] = {n: [] for n in ("ClickException", "NoArgsIsHelpError", "Abort", "Exit")}
    for name in ("click.exceptions", "typer._click.exceptions", "typer.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for cls_name, classes in found.items():
            cls = getattr(mod, cls_name, None)
            if isinstance(cls, type) and cls not in classes:
                classes.append(cls)
    return {k: tuple(v) for k, v in found.items()}


def _usage_error(e: Exception) -> int:
    """One ``error:`` line, then the usage hint of the command it concerns; exit code 2."""
    msg = e.format_message() if hasattr(e, "format_message") else str(e)
    typer.echo(f"error: {' '.join(str(msg).split())}", err=True)
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        try:
            typer.echo(ctx.get_usage().splitlines()[0] + f"  (see: {ctx.command_path} --help)", err=True)
        except Exception:  # a hint only: never let it hide the error line
            pass
    return 2


def _disk_full(e: OSError) -> str | None:
    import errno

    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = e.filename or "the output folders"
    return (f"no space left on the device while writing {where}; free some space and run again (completed "
            "files, checkpoints and caches are kept: `distillery run --resume RUN_DIR` continues a run)")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit with code 2, without a traceback; Ctrl-C exits 130."""
    import signal

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    interrupted = []

    def on_sigint(signum, frame):  # noted, so that Lightning turning Ctrl-C into exit(1) still reports 130
        interrupted.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        previous = None
    click_exc = _click_exceptions()
    try:
        app(args=argv, standalone_mode=False)
    except DistilleryError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as e:
        if interrupted:
            typer.echo("interrupted", err=True)
            return 130
        return int(e.code or 0) if isinstance(e.code, int) or e.code is None else 1
    except click_exc["NoArgsIsHelpError"] as e:  # `distillery` alone: the help text
        typer.echo(e.format_message())
        return 0
    except click_exc["ClickException"] as e:
        return _usage_error(e)
    except click_exc["Abort"]:
        typer.echo("interrupted", err=True)
        return 130
    except click_exc["Exit"] as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except OSError as e:
        msg = _disk_full(e)
        if msg is None:
            raise
        typer.echo(f"error: {msg}", err=True)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
