"""Logs the 2-D mode-collapse metrics (val/modes, val/hq_ratio, val/reverse_kl, and val/mode_error =
missed-mode share + off-mode share, the search objective) every N generator
iterations and at the end, for datamodules that describe a Gaussian mixture (``mixture_means``
and ``mixture_std`` attributes); does nothing for other data."""

from __future__ import annotations

import lightning as L
import torch

from ganforge.callbacks.interrupt import interrupted
from ganforge.callbacks.publish import publish
from ganforge.metrics.modes import mode_metrics
from ganforge.schedules import Cadence
from ganforge.surfaces import GaussianMixture, NoiseToSamples, require


class ModeCoverage(L.Callback):
    def __init__(self, every_n_g_iters: int = 1000, num_samples: int = 2500, threshold: float = 3.0) -> None:
        self.cadence = Cadence(every_n_g_iters, "callbacks.modes.every_n_g_iters")
        self.num_samples, self.threshold = num_samples, threshold
        self.latest: dict[str, float] = {}

    def before_fit(self, datamodule: object, model: object) -> None:
        fix = "image runs take callbacks=images (FID and friends instead)"
        require(datamodule, GaussianMixture, "2-D mixture data (data=ring8 or data=grid25)", fix)
        require(model, NoiseToSamples, "a model that generates samples from noise", fix)

    def on_train_start(self, trainer, pl_module) -> None:
        self.cadence.start(pl_module.g_iters)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.cadence.due(pl_module.g_iters):
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if not interrupted(trainer) and self.cadence.due_at_end(pl_module.g_iters):
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        self.cadence.done(pl_module.g_iters)
        dm = trainer.datamodule
        mixture = dm.mixture_means, dm.mixture_std
        generator = torch.Generator(device="cpu").manual_seed(pl_module.g_iters)
        z = torch.randn(self.num_samples, pl_module.hparams.z_dim, generator=generator)
        points = pl_module.generate(z.to(pl_module.device))
        scores = mode_metrics(points, *mixture, self.threshold)
        # One lower-is-better number for searches: share of modes missed plus share of off-mode samples.
        scores["mode_error"] = (1.0 - scores["modes"] / len(mixture[0])) + (1.0 - scores["hq_ratio"])
        self.latest = {f"val/{k}": v for k, v in scores.items()}
        publish(trainer, pl_module, self.latest)
        return self.latest
