"""Progressive growing GAN (Karras et al. 2018): ``GAN`` with growing nets and the ``Growth`` task,
because resolution, batch size and the active layers change during training.

The stage and fade-in ``alpha`` are a function of the real images shown so far (kimg), so a run
stopped anywhere, mid-fade included, resumes at the same stage and alpha from its counters.
Each batch arrives at full resolution as stored; the module takes the stage's batch size and
average-pools it to the stage's resolution on the device. Losses and penalties are the shared
ones (WGAN-GP with the epsilon-drift term by default). Samples are upsampled (nearest) to the
final size, so grids and metrics see one size throughout; ``evaluation_ready`` is true only at
the final resolution with the fade finished, so FID is measured there alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import GanforgeError
from ganforge.models.gan import GAN
from ganforge.models.tasks import Growth


@dataclass(frozen=True)
class GrowthSchedule:
    """Stage 0 trains ``stable_kimg``; every later stage fades in over ``fade_kimg`` (alpha 0 -> 1)
    then trains ``stable_kimg``; the last stage then stays."""

    num_stages: int
    fade_kimg: float
    stable_kimg: float

    def at(self, kimg: float) -> tuple[int, float]:
        """(stage, alpha) after ``kimg`` thousand real images."""
        if kimg < self.stable_kimg or self.num_stages == 1:
            return 0, 1.0
        phase = self.fade_kimg + self.stable_kimg
        stage = 1 + int((kimg - self.stable_kimg) // phase)
        if stage >= self.num_stages:
            return self.num_stages - 1, 1.0
        into = kimg - self.stable_kimg - (stage - 1) * phase
        alpha = min(1.0, into / self.fade_kimg) if self.fade_kimg > 0 else 1.0
        return stage, alpha

    def total_kimg(self) -> float:
        """kimg at which the last stage is fully faded in and has trained ``stable_kimg``."""
        return self.stable_kimg + (self.num_stages - 1) * (self.fade_kimg + self.stable_kimg)


class ProGAN(GAN):
    """``GAN``'s optimizers, loss, penalties, EMA and checkpointing, with growing nets; the stage and
    alpha are bound into the nets by the ``Growth`` task.

    ``batch_sizes`` maps a resolution to its batch size (missing sizes use the data's batch);
    a size larger than the data's batch is refused before training."""

    def __init__(self, *args: Any, fade_kimg: float = 600.0, stable_kimg: float = 600.0,
                 batch_sizes: dict | None = None, reset_optimizers_per_stage: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hparams.update(fade_kimg=fade_kimg, stable_kimg=stable_kimg,
                            batch_sizes={int(k): int(v) for k, v in (batch_sizes or {}).items()},
                            reset_optimizers_per_stage=bool(reset_optimizers_per_stage))
        self.optimizer_stage = 0  # the stage the optimizers' moments belong to (reset when it grows)
        if fade_kimg < 0 or stable_kimg <= 0:
            raise GanforgeError(f"model.fade_kimg must be >= 0 and model.stable_kimg > 0, got {fade_kimg}, "
                                f"{stable_kimg}")
        if self.conditional or len(self.sample_shape) != 3:
            raise GanforgeError("progan grows unconditional image models; use image data and conditional=false")
        self.schedule = GrowthSchedule(self.generator.num_stages, fade_kimg, stable_kimg)
        self.batch_sizes = self.hparams.batch_sizes
        self.final_resolution = int(self.sample_shape[-1])

    def make_task(self) -> Growth:
        return Growth(self)

    # ---- growth ------------------------------------------------------------------------------
    @property
    def stage_alpha(self) -> tuple[int, float]:
        """The stage and fade-in alpha at the current kimg."""
        return self.schedule.at(self.kimg)

    @staticmethod
    def stage_resolution(stage: int) -> int:
        return 4 * 2**stage

    @property
    def evaluation_ready(self) -> bool:
        """Image metrics mean something only at the final resolution, fade finished."""
        stage, alpha = self.stage_alpha
        return stage == self.schedule.num_stages - 1 and alpha >= 1.0

    @property
    def growth_stage(self) -> str:
        """The resolution the next step trains (a fade-in belongs to the resolution it grows to)."""
        return f"{self.stage_resolution(self.stage_alpha[0])}px"

    def stage_batch_size(self, stage: int, available: int) -> int:
        return min(self.batch_sizes.get(self.stage_resolution(stage), available), available)

    def on_fit_start(self) -> None:
        super().on_fit_start()
        dm = self.trainer.datamodule
        available = getattr(dm, "batch_size", None)
        too_big = {r: b for r, b in self.batch_sizes.items()
                   if available is not None and b > available and r <= self.final_resolution}
        if too_big:
            raise GanforgeError(f"model.batch_sizes {too_big} exceed data.batch_size={available}; raise "
                                "data.batch_size to the largest per-resolution batch")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["counters"]["optimizer_stage"] = self.optimizer_stage

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        counters = checkpoint.get("counters", {})
        self.optimizer_stage = int(counters.get("optimizer_stage", self.schedule.at(self.kimg)[0]))

    @torch.no_grad()
    def generate(self, z: Tensor | None = None, labels: Tensor | None = None, n: int | None = None) -> Tensor:
        """Samples at the current stage, upsampled (nearest) to the final resolution."""
        images = super().generate(z, labels, n)
        if images.shape[-1] != self.final_resolution:
            images = F.interpolate(images, size=self.final_resolution, mode="nearest")
        return images
