"""The run's length in the loop's own unit: training ends once the model has done ``g_iters``
generator iterations, whatever the critic steps per iteration (``n_critic``, WGAN's warm-up,
SRGAN's pretraining). Lightning's own limits (``trainer.max_steps`` counts every optimizer step)
are not derived from it; ``train.py`` always adds this callback. It also makes a run that a step
limit stopped inside an epoch resume that epoch where it stopped, for runs bounded by
``g_iters`` and by ``trainer.max_epochs`` alike."""

from __future__ import annotations

from typing import Any

import lightning as L

from ganforge.lightning_internals import reopen_interrupted_epoch, set_step_limit

NO_STEP_LIMIT = 2**62  # a step limit Lightning never reaches: marks the run as iteration-based


class StopAtGIters(L.Callback):
    def __init__(self, g_iters: int | None) -> None:
        self.g_iters = g_iters

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and self.g_iters is not None:  # before Lightning restores a checkpoint's loops
            set_step_limit(trainer, NO_STEP_LIMIT)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Runs before Lightning restores the loops. A run this callback (or Ctrl-C/SIGTERM) ended
        # inside an epoch is saved with that epoch counted as done; resuming it as saved would skip
        # the rest of the epoch's batches, and an epoch-bounded run would be short by them.
        reopen_interrupted_epoch(checkpoint)

    def _stop_when_done(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.g_iters is not None and pl_module.g_iters >= self.g_iters:
            # Ends the run as a step limit does, at this step (``trainer.should_stop`` would
            # record the epoch as finished, and a resume would start a new pass).
            set_step_limit(trainer, trainer.global_step)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_when_done(trainer, pl_module)  # a resumed run that is already long enough

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_when_done(trainer, pl_module)
