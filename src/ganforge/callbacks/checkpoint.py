"""Checkpointing that loses no generator iteration."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint


class GanCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also refreshes ``last.ckpt`` when training ends between two
    periodic saves. Lightning 2.6 writes ``last.ckpt`` at train end only if it never wrote one,
    so the iterations after the last periodic save would be lost."""

    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        else:
            super().on_train_end(trainer, pl_module)
