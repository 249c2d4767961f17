"""The ``distillery`` command line: run, eval, predict, demo, methods (and plan, when available)."""
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
    config: Annotated[str, typer.Argument(help="experiment YAML file")],
    method: Annotated[str | None, typer.Option("--method", "-m", help="method preset (scratch, kd, au, ...)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key: a.b=value (repeatable)")]
    = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train one student as the config says; write the run directory (output.dir)."""
    from .api import run
    from .config import load_config

    cfg = load_config(config, set_ or [], method)
    metrics = run(cfg, quiet=quiet)
    s, t = metrics["student"], metrics["teacher"]
    line = f"student accuracy {s['accuracy']:.4f} (best {s['best_accuracy']:.4f}), {s['params']:,} params"
    if t:
        line += f"; teacher accuracy {t['accuracy']:.4f}"
    typer.echo(line)


@app.command("eval")
def eval_cmd(run_dir: Annotated[str, typer.Argument(help="a finished run directory")]) -> None:
    """Evaluate a run's student on its test split, from the run directory alone."""
    from .api import evaluate

    typer.echo(json.dumps(evaluate(run_dir)))


@app.command("predict")
def predict_cmd(
    run_dir: Annotated[str, typer.Argument(help="a finished run directory")],
    inputs: Annotated[list[str], typer.Argument(help="texts, a .txt file with one text per line, or image paths")],
) -> None:
    """Predict with a run's student; prints one JSON line per input."""
    from .api import predict

    items: list[str] = []
    for x in inputs:
        if x.endswith(".txt") and os.path.isfile(x):
            with open(x, encoding="utf-8") as f:
                items += [line.rstrip("\n") for line in f if line.strip()]
        else:
            items.append(x)
    for row in predict(run_dir, items):
        typer.echo(json.dumps(row))


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

    from .losses.terms import PRESET_HELP, PRESETS, TERMS

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


def _register_optional() -> None:
    try:
        from .scaling.cli import plan
    except ImportError:
        return
    app.command("plan")(plan)


_register_optional()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit with code 2, without a traceback."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app(args=argv, standalone_mode=False)
    except DistilleryError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return 2
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
