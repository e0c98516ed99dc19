"""Checkpointing that loses no generator iteration and never leaves a truncated file."""

from __future__ import annotations

from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from ganforge.errors import DivergedError
from ganforge.files import torch_save_atomic
from ganforge.lightning_internals import last_saved_step, save_checkpoints_now
from ganforge.schedules import Cadence


class GanCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that saves every ``every_n_g_iters`` generator iterations (the loop's
    own unit: Lightning's steps count every optimizer step, and a critic's steps per generator
    iteration can vary), and refreshes ``last.ckpt`` when training ends between two periodic
    saves (Lightning 2.6 writes it at train end only if it never wrote one)."""

    def __init__(self, *args: Any, every_n_g_iters: int | None = None, **kwargs: Any) -> None:
        if every_n_g_iters is not None:  # else Lightning falls back to saving at every epoch's end
            kwargs.setdefault("every_n_epochs", 0)
        self.cadence = Cadence(every_n_g_iters, "callbacks.model_checkpoint.every_n_g_iters")
        super().__init__(*args, **kwargs)

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        self.cadence.start(pl_module.g_iters, done=True)  # a resumed run does not save its starting point again

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        g = pl_module.g_iters
        if not self.cadence.due(g):
            return
        self.cadence.done(g)
        if last_saved_step(self) != trainer.global_step:
            save_checkpoints_now(self, trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and last_saved_step(self) != trainer.global_step:
            save_checkpoints_now(self, trainer, top_k=False)
        else:
            super().on_train_end(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """A diverged run keeps ``last.ckpt`` as the last good checkpoint (its weights are broken now)."""
        if not isinstance(exception, DivergedError):
            super().on_exception(trainer, pl_module, exception)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer with the temporary-file-and-rename step (Lightning writes the
    bytes straight into the target, so a kill mid-write truncates ``last.ckpt``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        torch_save_atomic(checkpoint, path)
