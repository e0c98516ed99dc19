"""Helpers for the notebooks: find runs and sweeps under ``outputs/``, read their CSV metrics,
and plot curves and sample grids side by side. Plain Python and matplotlib (no pandas needed)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ganforge.errors import GanforgeError


@dataclass
class Run:
    """One training run: its directory, overrides and logged metrics as ``key -> [(step, value)]``."""

    name: str
    path: Path
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def last_grid(self) -> Path | None:
        """The newest sample grid (or, for SR models, validation panel)."""
        images = sorted(self.path.glob("samples/*.png")) or sorted(self.path.glob("panels/*.png"))
        return images[-1] if images else None


def latest(root: str | Path, pattern: str) -> Path:
    """The newest path under ``root`` matching ``pattern`` (by name: run folders start with a timestamp)."""
    found = sorted(Path(root).glob(pattern))
    if not found:
        raise GanforgeError(f"nothing matches {pattern} under {root}; train a run (or a -m sweep) first")
    return found[-1]


def read_metrics(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """``csv/metrics.csv`` (written by logger=csv and logger=wandb) as curves over ``progress/g_iters``
    (Lightning's step where a row has no counter)."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        return {}
    curves: dict[str, list[tuple[float, float]]] = {}
    for row in csv.DictReader(open(path)):
        x = row.get("progress/g_iters") or row.get("step") or "nan"
        for key, value in row.items():
            if value not in ("", None) and key not in ("step", "epoch", "progress/g_iters"):
                curves.setdefault(key, []).append((float(x), float(value)))
    return curves


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    overrides: list[str] = []
    summary = run_dir / "summary.json"
    if summary.is_file():
        overrides = json.loads(summary.read_text()).get("overrides", [])
    elif (run_dir / ".hydra" / "overrides.yaml").is_file():
        overrides = [line.removeprefix("- ").strip() for line in (run_dir / ".hydra" / "overrides.yaml").read_text()
                     .splitlines() if line.startswith("- ")]
    return Run(run_dir.name, run_dir, overrides, read_metrics(run_dir))


def load_sweep(sweep_dir: str | Path) -> list[Run]:
    """Every job directory of a ``-m`` sweep, in job order."""
    sweep_dir = Path(sweep_dir)
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir()]
    if not jobs:
        raise GanforgeError(f"{sweep_dir} holds no job directories")
    return [load_run(p) for p in sorted(jobs, key=lambda p: int(p.name.split("_")[0]) if p.name[0].isdigit() else 0)]


def plot_curves(runs: list[Run], keys: tuple[str, ...] = ("train/loss_d", "train/loss_g", "val/fid")) -> Figure:
    """One panel per metric, one line per run (x: generator iterations)."""
    keys = tuple(k for k in keys if any(k in r.metrics for r in runs)) or tuple(keys[:1])
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for run in runs:
            points = [(x, y) for x, y in run.metrics.get(key, []) if math.isfinite(x) and math.isfinite(y)]
            if points:
                ax.plot(*zip(*points), marker="o" if len(points) < 20 else None, label=run.name)
        ax.set_title(key)
        ax.set_xlabel("generator iterations")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def show_grids(runs: list[Run], columns: int = 4) -> Figure:
    """Each run's newest sample grid, titled with its name."""
    with_grid = [r for r in runs if r.last_grid is not None]
    rows = max(1, math.ceil(len(with_grid) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.5 * columns, 3.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, run in zip(axes.flat, with_grid):
        ax.imshow(plt.imread(run.last_grid), cmap="gray")
        ax.set_title(f"{run.name}\n{run.last_grid.name}", fontsize=8)
    fig.tight_layout()
    return fig
