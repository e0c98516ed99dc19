"""Sweep bookkeeping: each job writes ``summary.json`` in its run directory (status, overrides,
final metrics, checkpoints); the sweep table (CSV and Markdown) is rebuilt from those files in the
sweep directory after every job and printed when the sweep ends (``SweepSummary``, a Hydra
callback). Rebuilding after every job means a sweep that is killed still has its table."""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from ganforge.errors import GanforgeError, one_line
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


def objective_value(cfg: DictConfig, metrics: dict[str, Any]) -> float | None:
    """The number returned to sweepers. ``objective: auto`` is ``val/fid`` for images and
    ``val/mode_error`` for 2-D mixtures (both lower-is-better). NaN or inf (a diverged run)
    becomes ``objective_penalty``, so a search goes on and learns to avoid that region."""
    if not cfg.get("objective"):
        return None
    name = objective_name(cfg, metrics)
    if name is None:
        raise GanforgeError("objective=auto needs val/fid (image metrics; are the Inception weights there?) "
                            "or val/mode_error (ring8/grid25), and this run logged neither")
    if name not in metrics:
        raise GanforgeError(f"objective={name} was not logged by this run; logged: {', '.join(sorted(metrics))}")
    value = float(metrics[name])
    if not math.isfinite(value):
        penalty = float(cfg.get("objective_penalty", 1e6))
        log.warning("objective %s is %s; returning objective_penalty=%g", name, value, penalty)
        return penalty
    return value


def objective_name(cfg: DictConfig, metrics: dict[str, Any]) -> str | None:
    """The metric ``objective`` names; ``auto``: ``val/fid`` or ``val/mode_error``, whichever was logged."""
    name = cfg.get("objective")
    if name == "auto":
        return next((k for k in ("val/fid", "val/mode_error") if k in metrics), None)
    return name or None


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
    for job in _job_summaries(root):
        checkpoints = job.get("checkpoints", {})
        row = {"job": job.get("job"), "overrides": " ".join(job.get("overrides", [])), "status": job.get("status"),
               "objective": job.get("objective")}
        row.update({k: job.get("metrics", {}).get(k) for k in TABLE_METRICS})
        row["best_checkpoint"] = checkpoints.get("best") or checkpoints.get("last") or ""
        rows.append(row)
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


class SweepJobFailed(CompactHydraException):
    """A job's error as one line (Hydra prints these without a traceback)."""


BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class SweepSummary(Callback):
    """Prints the sweep table when a ``-m`` sweep ends (jobs already wrote it, see module doc), one
    line per failed job, and exits with status 2 when any job of a plain ``-m`` sweep failed (a
    search's failed trials are part of the search). A failed job does not end the
    sweep: with Hydra's basic sweeper the others run on (its error was printed as it happened, and
    an unexpected exception's traceback is kept in the job's ``traceback.txt``); other sweepers (Optuna)
    keep their own failure policy and get the error as one line."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status != JobStatus.FAILED or config.hydra.mode != RunMode.MULTIRUN:
            return  # a single run's unexpected error goes on to Hydra: traceback and exit status 1
        # The getter would raise it and print "Error executing job" first: the error is already on the console.
        error = job_return._return_value
        output_dir = Path(config.hydra.runtime.output_dir)
        line = one_line(error, limit=500)
        if not isinstance(error, GanforgeError):
            output_dir.mkdir(parents=True, exist_ok=True)
            trace = output_dir / "traceback.txt"
            trace.write_text("".join(traceback.format_exception(error)))
            line = f"{type(error).__name__}: {line} (traceback in {trace})"
        if not (output_dir / SUMMARY).is_file():  # it failed before train.run wrote one
            write_job_summary(output_dir, "failed", {}, {}, error=line)
        if config.hydra.sweeper.get("_target_") == BASIC_SWEEPER:
            job_return.status, job_return.return_value = JobStatus.COMPLETED, None
        else:
            job_return.return_value = SweepJobFailed(f"job {config.hydra.job.num}: {line}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        root = Path(config.hydra.sweep.dir)
        markdown = write_sweep_table(root) if root.is_dir() else ""
        if markdown:
            print(f"\nSweep summary ({root / 'summary.md'}, {root / 'summary.csv'}):\n{markdown}", flush=True)
        jobs = _job_summaries(root) if root.is_dir() else []
        failed = [job for job in jobs if job.get("status") == "failed"]
        for job in failed:
            print(f"failed: job {job.get('job')} ({' '.join(job.get('overrides', []))}): {job.get('error')}",
                  file=sys.stderr)
        if not failed:
            return
        total = len(jobs)
        if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:  # a search's failed trials are part of it
            print(f"{len(failed)} of {total} trials failed", file=sys.stderr, flush=True)
            return
        print(f"error: {len(failed)} of {total} jobs failed", file=sys.stderr, flush=True)
        sys.exit(2)


def _job_summaries(root: Path) -> list[dict[str, Any]]:
    jobs = []
    for path in sorted(root.glob(f"*/{SUMMARY}")):
        try:
            jobs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(jobs, key=lambda j: (j.get("job") is None, j.get("job") or 0))
