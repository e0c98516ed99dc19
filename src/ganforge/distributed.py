"""DDP runs that Lightning's launchers do not cover by themselves: inside a ``-m`` sweep, and the
loop's counters after a spawned fit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from ganforge.errors import GanforgeError
from ganforge.files import open_checkpoint
from ganforge.sweep import in_multirun

log = logging.getLogger(__name__)


def counters_from_spawned_processes(model: Any, output_dir: Path) -> None:
    """A spawned DDP fit trains in child processes, and Lightning brings rank 0's weights and
    metrics back to this one but not the loop's counters: they come from rank 0's last checkpoint,
    so the report and summary say how far the run went."""
    last = output_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        model.on_load_checkpoint(open_checkpoint(last))


def spawn_ddp_in_a_sweep(cfg: DictConfig) -> None:
    """Lightning's DDP launcher starts each extra process by re-running the command line, which
    under ``-m`` would run the whole sweep again in every process. Inside a sweep, DDP jobs use the
    spawning launcher instead (the same DDP, processes started from this job)."""
    strategy = cfg.trainer.get("strategy")
    if not (in_multirun() and isinstance(strategy, str) and strategy.startswith("ddp")) or "spawn" in strategy:
        return
    if strategy not in ("ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false"):
        raise GanforgeError(f"trainer.strategy={strategy} re-runs the command line in each process, which under -m "
                            "would start the sweep again: use trainer.strategy=ddp_spawn inside a sweep")
    spawned = strategy.replace("ddp", "ddp_spawn", 1)
    log.info("trainer.strategy %s -> %s inside this -m sweep (the %s launcher re-runs the command line)",
             strategy, spawned, strategy)
    with open_dict(cfg):
        cfg.trainer.strategy = spawned
