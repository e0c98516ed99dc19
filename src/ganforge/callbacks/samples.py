"""Sample grids from the fixed noise, every N generator iterations and at the end: saved as PNG
under ``dirpath`` and sent to every logger that takes images. 2-D data gets a scatter plot of
real vs generated points instead. Nets that grow (ProGAN) also get one grid at the end of each
stage, ``stage-<name>.png``, whatever the cadence."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from ganforge.callbacks.interrupt import interrupted
from ganforge.media import log_final_tables, log_image_file, save_grid, scatter_png
from ganforge.schedules import Cadence
from ganforge.surfaces import LabelledData, NoiseToSamples, require


class SampleGrid(L.Callback):
    """Renders ``pl_module.generate_fixed()`` after the first generator iteration, every
    ``every_n_g_iters`` and when training ends."""

    def __init__(self, dirpath: str, every_n_g_iters: int | None = 200, nrow: int | None = None) -> None:
        self.cadence = Cadence(every_n_g_iters, "callbacks.samples.every_n_g_iters", first=1)
        self.dirpath, self.nrow = Path(dirpath), nrow
        self._real_points: Tensor | None = None
        self._stage: str | None = None  # the growth stage the last step trained (None: nets that do not grow)

    def before_fit(self, datamodule: object, model: object) -> None:
        require(model, NoiseToSamples, "a model that generates samples from noise",
                "super-resolution runs take callbacks=super_resolution (LR|bicubic|SR|HR panels instead)")

    def on_train_start(self, trainer, pl_module) -> None:
        self.cadence.start(pl_module.g_iters)
        self._stage = pl_module.growth_stage

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        stage = pl_module.growth_stage
        if stage != self._stage:  # the nets grow with this step: the samples that ended the last stage
            self.render(trainer, pl_module, name=f"stage-{self._stage}")
            self._stage = stage

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._real_points is None and batch[0].ndim == 2:
            self._real_points = batch[0][:2000].detach().float().cpu()
        if self.cadence.due(pl_module.g_iters):
            self.render(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        samples = pl_module.generate_fixed().cpu()  # the final grid and the final tables share it
        if self.cadence.due_at_end(pl_module.g_iters):
            self.render(trainer, pl_module, samples)
        if self._stage is not None and not interrupted(trainer):
            self.render(trainer, pl_module, samples, name=f"stage-{self._stage}")
        if trainer.is_global_zero:
            labels = pl_module.fixed_labels.cpu() if pl_module.conditional else None
            names = trainer.datamodule.class_names if isinstance(trainer.datamodule, LabelledData) else None
            log_final_tables(trainer, pl_module, samples, labels, names, self._real_points)

    def render(self, trainer: L.Trainer, pl_module: L.LightningModule, samples: Tensor | None = None,
               name: str | None = None) -> Path | None:
        """Saves and logs one grid: ``g<iterations>.png`` on the cadence, ``<name>.png`` out of it."""
        g = pl_module.g_iters
        if name is None:
            self.cadence.done(g)
        if samples is None:
            samples = pl_module.generate_fixed().cpu()  # every rank computes; only rank 0 writes
        if not trainer.is_global_zero:
            return None
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"{name or f'g{g:07d}'}.png"
        if samples.ndim == 4:
            nrow = self.nrow or pl_module.grid_columns
            save_grid(samples, path, nrow)
        else:
            real = self._real_points if self._real_points is not None else torch.empty(0, 2)
            scatter_png(real, samples, path, f"{g} generator iterations")
        log_image_file(trainer, "samples" if name is None else f"samples/{name}", path, pl_module)
        return path
