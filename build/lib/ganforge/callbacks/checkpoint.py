"""Checkpointing that loses no generator iteration and never leaves a truncated file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from ganforge.errors import DivergedError
from ganforge.files import torch_save_atomic
from ganforge.lightning_internals import last_saved_step, save_checkpoints_now
from ganforge.schedules import Cadence
from ganforge.schema import Annotated, AtLeast, check_arguments


class GanCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that saves every ``every_n_g_iters`` generator iterations (the loop's
    own unit: Lightning's steps count every optimizer step, and a critic's steps per generator
    iteration can vary), and refreshes ``last.ckpt`` when training ends between two periodic
    saves (Lightning 2.6 writes it at train end only if it never wrote one)."""

    def __init__(self, *args: Any, every_n_g_iters: int | None = None,
                 keep: Annotated[int | None, AtLeast(1)] = None, **kwargs: Any) -> None:
        check_arguments(GanCheckpoint.__init__, locals(), "callbacks.model_checkpoint")
        if every_n_g_iters is not None:  # else Lightning falls back to saving at every epoch's end
            kwargs.setdefault("every_n_epochs", 0)
        self.cadence = Cadence(every_n_g_iters, "callbacks.model_checkpoint.every_n_g_iters")
        self.keep = keep  # the newest periodic files this run wrote that stay (null: all)
        self.written: list[Path] = []
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
            self._keep_newest(trainer)

    def _keep_newest(self, trainer) -> None:
        """Remove this run's older periodic checkpoints beyond ``keep`` (never last.ckpt or
        best_fid.ckpt, never a file another run wrote)."""
        newest = Path(self.best_model_path)
        if self.best_model_path and newest not in self.written:
            self.written.append(newest)
        while self.keep is not None and len(self.written) > self.keep:
            old = self.written.pop(0)
            if trainer.is_global_zero and old.name not in ("last.ckpt", "best_fid.ckpt"):
                old.unlink(missing_ok=True)

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
