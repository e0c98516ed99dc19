"""Sweep bookkeeping: each job writes ``summary.json`` in its run directory (status, overrides,
final metrics, checkpoints); the sweep table (CSV and Markdown) is rebuilt from those files in the
sweep directory after every job and printed when the sweep ends (``SweepSummary``, a Hydra
callback). Rebuilding after every job means a sweep that is killed still has its table."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from ganforge.files import atomic_path, write_text_atomic

log = logging.getLogger(__name__)
SUMMARY = "summary.json"
# Metrics shown in the table, when a job has them (the rest stay in summary.json).
TABLE_METRICS = ("val/fid", "val/kid", "val/precision", "val/recall", "val/is", "val/modes", "val/hq_ratio",
                 "val/reverse_kl", "val/mode_error", "val/psnr", "val/ssim", "train/loss_d", "train/loss_g")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_dir() -> Path | None:
    """This job's sweep directory, when it runs under ``-m``."""
    return Path(HydraConfig.get().sweep.dir) if in_multirun() else None


def job_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def write_job_summary(output_dir: Path, status: str, metrics: dict[str, float], checkpoints: dict[str, str],
                      objective: float | None = None, error: str | None = None) -> Path:
    """``summary.json`` of one job (rank 0 only)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    num = HydraConfig.get().job.num if in_multirun() else None
    payload = {"job": num, "run_dir": str(output_dir), "overrides": job_overrides(), "status": status,
               "objective": objective, "metrics": metrics, "checkpoints": checkpoints, "error": error}
    path = output_dir / SUMMARY
    write_text_atomic(path, json.dumps(payload, indent=2, default=float))
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def sweep_rows(root: Path) -> list[dict[str, Any]]:
    """One row per job directory under ``root`` that has a ``summary.json``, by job number."""
    rows = []
    for path in sorted(root.glob(f"*/{SUMMARY}")):
        try:
            job = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        checkpoints = job.get("checkpoints", {})
        row = {"job": job.get("job"), "overrides": " ".join(job.get("overrides", [])), "status": job.get("status"),
               "objective": job.get("objective")}
        row.update({k: job.get("metrics", {}).get(k) for k in TABLE_METRICS})
        row["best_checkpoint"] = checkpoints.get("best") or checkpoints.get("last") or ""
        rows.append(row)
    rows.sort(key=lambda r: (r["job"] is None, r["job"] if r["job"] is not None else 0))
    return rows


def write_sweep_table(root: Path) -> str:
    """``summary.csv`` and ``summary.md`` in ``root``; returns the Markdown. Columns no job has are left out."""
    rows = sweep_rows(root)
    if not rows:
        return ""
    columns = [c for c in rows[0] if c in ("job", "overrides", "status", "best_checkpoint")
               or any(r.get(c) is not None for r in rows)]
    with atomic_path(root / "summary.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)).replace("|", "\\|") for c in columns) + " |" for r in rows]
    markdown = "\n".join(lines) + "\n"
    write_text_atomic(root / "summary.md", markdown)
    return markdown


class SweepSummary(Callback):
    """Prints the sweep table when a ``-m`` sweep ends (jobs already wrote it, see module doc)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        root = Path(config.hydra.sweep.dir)
        markdown = write_sweep_table(root) if root.is_dir() else ""
        if markdown:
            print(f"\nSweep summary ({root / 'summary.md'}, {root / 'summary.csv'}):\n{markdown}", flush=True)
