"""Checkpointing that loses no generator iteration and never leaves a truncated file."""

from __future__ import annotations

from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from ganforge.errors import DivergedError
from ganforge.files import torch_save_atomic


class GanCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also refreshes ``last.ckpt`` when training ends between two
    periodic saves. Lightning 2.6 writes ``last.ckpt`` at train end only if it never wrote one,
    so the iterations after the last periodic save would be lost."""

    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
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
