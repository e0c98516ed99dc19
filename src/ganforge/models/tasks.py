"""What differs between the models, as small parts the loop composes (``loop.Task``): how a batch
becomes a ``Step``, and how a net is bound to the current point of training.

- ``FromNoise``: noise (and class labels) to samples, for every ``GAN`` variant.
- ``Growth``: ProGAN's stage and fade-in alpha, bound into both nets once per step, with the
  stage's batch size and resolution; wraps ``FromNoise``.
- ``SuperResolution``: SRGAN's (low-res, high-res) pairs, with SRResNet's pixel-loss pretraining.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.models.loop import Step

if TYPE_CHECKING:  # the parts hold the model they serve; the models import this module
    from ganforge.models.gan import GAN
    from ganforge.models.progan import ProGAN
    from ganforge.models.srgan import SRGAN


def bound(net: Callable[..., Tensor], net_args: dict[str, Any]) -> Callable[..., Tensor]:
    return functools.partial(net, **net_args) if net_args else net


def latents(n: int, z_dim: int, num_classes: int, rng: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """``n`` latents, then (with ``num_classes``) labels, drawn from ``rng`` on the CPU: the one draw
    behind every seeded sample, so a checkpoint and its export give the same images."""
    z = torch.randn(n, z_dim, generator=rng)
    return z, (torch.randint(num_classes, (n,), generator=rng) if num_classes else None)


class FromNoise:
    """Reals (and labels, when conditional) from the batch; the generator draws fresh noise."""

    def __init__(self, model: GAN) -> None:
        self.model = model

    def step(self, batch: tuple[Tensor, Tensor]) -> Step:
        real, labels = batch
        return self.step_on(self.model.prepare_real(real), labels if self.model.conditional else None, {})

    def step_on(self, real: Tensor, y: Tensor | None, net_args: dict[str, Any]) -> Step:
        """The step for these reals, both nets bound to ``net_args``."""
        model, n = self.model, real.shape[0]
        generator = bound(model.generator, net_args)
        discriminate = bound(model.discriminate, net_args)

        def generator_loss(fake: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
            generated = fake if fake is not None else generator(model.noise(n), y)
            return model.loss.generator(discriminate(generated, y).float()), {}

        return Step(real=real, labels=y, generate=lambda: generator(model.noise(n), y), discriminate=discriminate,
                    generator_loss=generator_loss, reuse_fake=bool(model.hparams.reuse_fake),
                    simultaneous=bool(model.hparams.simultaneous))

    def bind(self, net: torch.nn.Module) -> Callable[..., Tensor]:
        return net


class Growth:
    """ProGAN's growth: the stage and alpha at the step's start (a function of kimg), the
    optimizers' moments cleared when a stage begins (``reset_optimizers_per_stage``), and the reals
    at the stage's batch size and resolution, faded like the nets."""

    def __init__(self, model: ProGAN) -> None:
        self.model = model
        self.noise_task = FromNoise(model)

    def net_args(self) -> dict[str, Any]:
        stage, alpha = self.model.stage_alpha
        return {"stage": stage, "alpha": alpha}

    def step(self, batch: tuple[Tensor, Tensor]) -> Step:
        model = self.model
        stage, alpha = model.stage_alpha
        if stage != model.optimizer_stage:
            if model.hparams.reset_optimizers_per_stage:  # the official reset_opt_for_new_lod
                for optimizer in model.optimizers():
                    optimizer.optimizer.state.clear()
            model.optimizer_stage = stage
        real, _ = self.at_stage(batch, stage, alpha)
        step = self.noise_task.step_on(model.prepare_real(real), None, {"stage": stage, "alpha": alpha})
        step.stats = {"progress/stage": float(stage), "progress/alpha": float(alpha),
                      "progress/resolution": float(model.stage_resolution(stage))}
        return step

    def at_stage(self, batch: tuple[Tensor, Tensor], stage: int, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
        """The stage's batch size, average-pooled from the stored size to the stage's resolution
        (on the device; the datamodule's own batch-transfer hook has already scaled to [-1, 1]).
        During a fade the reals are faded like the nets (the official ``process_reals``):
        ``lerp(upsample(downsample(x)), x, alpha)``, so the critic never compares sharp reals
        with half-grown fakes."""
        real, labels = batch
        n = self.model.stage_batch_size(stage, real.shape[0])
        real, labels = real[:n], labels[:n]
        size = self.model.stage_resolution(stage)
        if real.shape[-1] != size:
            real = F.adaptive_avg_pool2d(real, size)
        if stage > 0 and alpha < 1.0:
            coarse = F.interpolate(F.avg_pool2d(real, 2), scale_factor=2, mode="nearest")
            real = torch.lerp(coarse, real, alpha)
        return real, labels

    def bind(self, net: torch.nn.Module) -> Callable[..., Tensor]:
        return bound(net, self.net_args())


class SuperResolution:
    """(low-res, high-res) pairs: the generator super-resolves the low-res batch once, with its
    graph; while pretraining (SRResNet, or SRGAN's first ``pretrain_steps``) the step is the pixel
    MSE alone, afterwards a critic step on (HR, SR) and the perceptual loss."""

    def __init__(self, model: SRGAN) -> None:
        self.model = model

    def step(self, batch: tuple[Tensor, Tensor]) -> Step:
        model = self.model
        lr, hr = batch
        pretraining = model.pretraining
        loss = model.pixel_loss if pretraining else model.perceptual_loss
        return Step(real=hr, labels=None, generate=lambda: model.generator(lr), discriminate=model.discriminate,
                    generator_loss=lambda sr: loss(sr, hr), reuse_fake=True, trains_critic=not pretraining,
                    steps_schedules=not pretraining)  # the learning-rate drop counts adversarial iterations

    def bind(self, net: torch.nn.Module) -> Callable[..., Tensor]:
        return net
