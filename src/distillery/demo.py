"""``distillery demo``: an offline, few-minute tour. MiniLM teacher -> text CNN student on a shipped dataset.

Runs the teacher's linear probe, the student from scratch and the distilled student (Farhat & Chen 2024 ``au``),
then prints one table: test accuracy, parameters, latency per sample and wall time.
"""
from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TEACHER = "hf:sentence-transformers/all-MiniLM-L6-v2"


def demo_config(out_dir: Path, method: str, epochs: int = 30) -> dict[str, Any]:
    data_dir = resources.files("distillery") / "resources" / "demo"
    return {
        "data": {"source": str(data_dir), "label_column": "label", "max_length": 48, "val_fraction": 0.1},
        "teacher": {"model": TEACHER, "head": "lp"},
        "student": {"model": "text_cnn", "kwargs": {"embed_dim": 64, "num_filters": 128, "kernel_sizes": [1, 2, 3]}},
        "distill": {"method": method},
        "train": {"epochs": epochs, "batch_size": 32, "lr": 0.002, "seed": 0, "progress": False},
        "output": {"dir": str(out_dir / method)},
    }


def demo(out: str | None = None, epochs: int = 30) -> dict[str, dict[str, Any]]:
    """Run the demo; returns ``{"scratch": metrics, "au": metrics}`` and prints the comparison table."""
    from .api import run

    console = Console()
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="distillery-demo-")
        root = Path(tmp.name)
    else:
        root = Path(out)
    try:
        results = {}
        for method, what in (("scratch", "student from scratch"), ("au", "teacher probe + distilled student")):
            console.print(f"[bold]demo:[/] {what} ...")
            results[method] = run(demo_config(root, method, epochs), quiet=True)
        t = results["au"]["teacher"]
        table = Table(title="distillery demo: all-MiniLM-L6-v2 -> text CNN (12 intents, 1,080 train sentences)")
        for col in ("model", "test accuracy", "parameters", "latency / sample", "wall time"):
            table.add_column(col, justify="right" if col != "model" else "left")
        table.add_row("teacher (MiniLM-L6, linear probe)", f"{t['accuracy']:.1%}", f"{t['params']:,}",
                      f"{t['latency_ms_per_sample']:.2f} ms", f"{t['prepare_time_s']:.0f} s")
        for method, label in (("scratch", "student from scratch (CE)"), ("au", "student distilled (CE+KD+A/U)")):
            s, tr = results[method]["student"], results[method]["train"]
            table.add_row(label, f"{s['accuracy']:.1%}", f"{s['params']:,}", f"{s['latency_ms_per_sample']:.2f} ms",
                          f"{tr['wall_time_s']:.0f} s")
        console.print(table)
        if out is not None:
            console.print(f"runs kept in {root}")
        return results
    finally:
        if tmp is not None:
            tmp.cleanup()
