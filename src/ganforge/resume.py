"""Which checkpoint a run resumes from: the one ``ckpt_path`` names, the newest of a requeued
SLURM job's own directory, or, for ``ckpt_path=latest``, the newest run of this command (the same
overrides, whatever the machine's paths) under the runs directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganforge.errors import GanforgeError
from ganforge.lightning_internals import completed_epochs
from ganforge.sweep import SUMMARY, job_overrides

log = logging.getLogger(__name__)

# What may differ between a run and its resume: where things go, and the run's length.
NOT_COMPARED = ("ckpt_path", "g_iters", "trainer.max_epochs", "paths.", "hydra.", "init_from")


def resume_checkpoint(output_dir: Path) -> Path | None:
    """The newest checkpoint this run directory already holds: a requeued SLURM job restarts in the
    same directory, with Lightning's ``hpc_ckpt_*.ckpt`` (saved on the pre-timeout signal) and/or
    ``checkpoints/last.ckpt``. None for a fresh directory."""
    candidates = [*output_dir.glob("hpc_ckpt_*.ckpt"), output_dir / "checkpoints" / "last.ckpt"]
    existing = [p for p in candidates if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None


def compared(overrides: list[str]) -> list[str]:
    """The overrides that define the run (sorted, the ``+``/``++`` prefixes dropped)."""
    kept = []
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if not any(key == skip or (skip.endswith(".") and key.startswith(skip)) for skip in NOT_COMPARED):
            kept.append(override.lstrip("+"))
    return sorted(kept)


def recorded_overrides(run_dir: Path) -> list[str] | None:
    """The command line a run directory was started with: Hydra's record, else ganforge's summary."""
    hydra = run_dir / ".hydra" / "overrides.yaml"
    try:
        if hydra.is_file():
            return [str(o) for o in OmegaConf.load(hydra)]
        summary = run_dir / SUMMARY
        if summary.is_file():
            return [str(o) for o in json.loads(summary.read_text()).get("overrides", [])]
    except (OSError, ValueError, TypeError) as err:
        log.warning("ckpt_path=latest: skipping %s (its record of the command line is unreadable: %s)", run_dir, err)
    return None


def latest_checkpoint(cfg: DictConfig) -> Path | None:
    """The newest checkpoint of an earlier run started with this run's overrides (apart from
    ``ckpt_path``, the length and paths) under ``<paths.log_dir>/<task>/runs``; None when there is none."""
    mine = compared(job_overrides())
    runs = Path(str(cfg.paths.log_dir)) / str(cfg.get("task_name", "train")) / "runs"
    here = Path(str(cfg.paths.output_dir)).resolve()
    found = []
    for run_dir in runs.glob("*") if runs.is_dir() else []:
        if run_dir.resolve() == here or not run_dir.is_dir():
            continue
        overrides = recorded_overrides(run_dir)
        checkpoint = resume_checkpoint(run_dir)
        if overrides is not None and checkpoint is not None and compared(overrides) == mine:
            found.append(checkpoint)
    if not found:
        log.info("ckpt_path=latest: no earlier run of these overrides with a checkpoint under %s; starting a new "
                 "run", runs)
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    log.info("ckpt_path=latest: resuming %s (the newest of %d runs of these overrides)", newest, len(found))
    return newest


def check_not_finished(cfg: DictConfig, checkpoint: dict[str, Any], where: str) -> None:
    """A resume whose checkpoint already reached the run's length would end at once, looking like
    a run that did nothing: say so, and what to raise."""
    g_done = int(checkpoint.get("counters", {}).get("g_iters", 0))
    if cfg.get("g_iters") is not None and g_done >= int(cfg.g_iters):
        raise GanforgeError(f"{where} is at generator iteration {g_done}, already at or past g_iters={cfg.g_iters}: "
                            f"raise g_iters (e.g. g_iters={2 * g_done}) to train on, or score it with "
                            "python evaluate.py ckpt_path=...")
    max_epochs = cfg.trainer.get("max_epochs")
    epochs_done = completed_epochs(checkpoint)
    if cfg.get("g_iters") is None and max_epochs is not None and epochs_done >= int(max_epochs):
        raise GanforgeError(f"{where} has trained {epochs_done} epochs, already at or past "
                            f"trainer.max_epochs={max_epochs}: raise trainer.max_epochs (e.g. "
                            f"trainer.max_epochs={2 * epochs_done}) to train on")
