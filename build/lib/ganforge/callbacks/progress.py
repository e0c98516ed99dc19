"""Progress in the units GAN users think in: generator iterations (of the run's total), kimg,
real images per second and the latest losses. When the critic takes several steps per generator
iteration (``n_critic`` > 1, WGAN's warm-up of 100), the bar counts critic steps of the run's
total instead, so a slow start shows movement and the ETA accounts for the critic's steps. A live
bar on a terminal; one log line every ``log_every_s`` seconds otherwise (CI, SLURM logs). Replaces
Lightning's epoch/batch bar, whose epochs and global steps mean little when each generator iteration
spans several optimizer steps."""

from __future__ import annotations

import logging
import time

from lightning.pytorch.callbacks import ProgressBar
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ganforge.schedules import critic_steps_total

log = logging.getLogger(__name__)


class GanProgressBar(ProgressBar):
    def __init__(self, g_iters: int | None = None, log_every_s: float = 30.0, refresh_s: float = 0.5) -> None:
        super().__init__()
        self.g_iters = g_iters
        self.log_every_s, self.refresh_s = log_every_s, refresh_s
        self._enabled = True
        self._progress: Progress | None = None
        self._task = None
        self._total: int | None = None
        self._last = 0.0
        self._start: tuple[float, int] | None = None  # (time, images seen) when training started
        self._unit = "g_iter"  # or "critic step"

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _counted(self, pl_module) -> int:
        return pl_module.d_steps if self._unit == "critic step" else pl_module.g_iters

    def _summary(self, trainer, pl_module) -> str:
        m = trainer.callback_metrics
        parts = [f"g_iter {pl_module.g_iters}/{self.g_iters}"] if self._unit == "critic step" else []
        parts.append(f"kimg {pl_module.kimg:.1f}")
        if self._start is not None:
            elapsed = time.monotonic() - self._start[0]
            seen = pl_module.images_seen - self._start[1]
            if elapsed > 0 and seen > 0:
                parts.append(f"{seen / elapsed:.0f} img/s")
        parts += [f"{k.split('/')[-1]} {float(m[k]):.3f}" for k in ("train/loss_d", "train/loss_g") if k in m]
        return "  ".join(parts)

    def on_train_start(self, trainer, pl_module) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        self._start = (time.monotonic(), pl_module.images_seen)
        self._total = self.g_iters
        n_critic, warmup = getattr(pl_module, "n_critic", 1), getattr(pl_module, "critic_warmup", None)
        if self.g_iters is not None and (n_critic > 1 or warmup):
            self._unit = "critic step"
            self._total = critic_steps_total(self.g_iters, n_critic, warmup)
        console = Console(stderr=True)
        if console.is_terminal:
            self._progress = Progress(
                TextColumn(self._unit), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[summary]}"), console=console,
            )
            self._task = self._progress.add_task("train", total=self._total, summary="",
                                                 completed=self._counted(pl_module))
            self._progress.start()
        self._last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        now = time.monotonic()
        if self._progress is not None:
            if now - self._last >= self.refresh_s:
                self._progress.update(self._task, completed=self._counted(pl_module),
                                      summary=self._summary(trainer, pl_module))
                self._last = now
        elif now - self._last >= self.log_every_s:
            total = f"/{self._total}" if self._total else ""
            log.info("%s %d%s  %s", self._unit, self._counted(pl_module), total, self._summary(trainer, pl_module))
            self._last = now

    def on_train_end(self, trainer, pl_module) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._counted(pl_module),
                                  summary=self._summary(trainer, pl_module))
            self._progress.stop()
            self._progress = None
        elif self._enabled and trainer.is_global_zero:
            log.info("done: g_iter %d  %s", pl_module.g_iters, self._summary(trainer, pl_module))
