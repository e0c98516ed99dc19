"""The two optimizer steps of every adversarial model here, written once.

``GAN`` (and ``ProGAN`` through it) and ``SRGAN`` differ in what they feed the discriminator and
what the generator's loss is, not in how a step is taken: ``discriminator_step`` and
``generator_update`` are those steps, with the counters they move. Extra arguments both nets
take (ProGAN's ``stage`` and ``alpha``) are passed explicitly as ``net_args``, never held as
state across a step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ganforge.models.state import CountedModule

Metrics = dict[str, Any]


class AdversarialModule(CountedModule):
    """A generator and a discriminator trained by manual optimization, optimizers in the order
    (generator, discriminator). Subclasses set ``generator``, ``discriminator`` and ``loss``,
    implement ``discriminate``, and may set ``penalties`` (name -> (function, weight)) and
    ``clip_value`` (WGAN's weight clipping)."""

    def __init__(self) -> None:
        super().__init__()
        self.penalties: dict[str, tuple[Callable[..., Tensor], float]] = {}
        self.clip_value: float | None = None

    def discriminate(self, x: Tensor, y: Tensor | None = None, **net_args: Any) -> Tensor:
        """The discriminator's scores for a batch (subclasses add augmentation, packing, ...)."""
        raise NotImplementedError

    def optimizer_pair(self) -> tuple[Any, Any]:
        """(generator optimizer, discriminator optimizer or None for a generator-only model)."""
        optimizers = self.optimizers()
        if isinstance(optimizers, (list, tuple)):
            return optimizers[0], (optimizers[1] if len(optimizers) > 1 else None)
        return optimizers, None

    def penalty_values(self, real: Tensor, fake: Tensor, y: Tensor | None, d_real: Tensor,
                       **net_args: Any) -> dict[str, Tensor]:
        """Each configured penalty (unweighted) on the clean real and generated samples."""
        discriminate = functools.partial(self.discriminate, **net_args) if net_args else self.discriminate
        return {name: fn(discriminate, real, fake, y, d_real) for name, (fn, _) in self.penalties.items()}

    def discriminator_step(self, real: Tensor, fake: Tensor, y: Tensor | None = None, **net_args: Any) -> Metrics:
        """One optimizer step of the discriminator: ``loss.discriminator`` on real and generated
        (detached) samples plus each weighted penalty, then weight clipping when set. Counts
        ``d_steps``; returns the step's statistics unreduced under their metric names, so a step
        that does not log launches no reduction."""
        _, opt_d = self.optimizer_pair()
        d_real = self.discriminate(real, y, **net_args).float()
        d_fake = self.discriminate(fake, y, **net_args).float()
        loss_d = self.loss.discriminator(d_real, d_fake)
        penalties = self.penalty_values(real, fake, y, d_real, **net_args)
        total = loss_d + sum(self.penalties[name][1] * value for name, value in penalties.items())
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(total)
        opt_d.step()
        if self.clip_value is not None:  # WGAN: keep the critic K-Lipschitz by clipping
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.clip_value, self.clip_value)
        self.d_steps += 1
        return {"train/loss_d": loss_d, "train/d_real": d_real, "train/d_fake": d_fake,
                **{f"train/penalty_{name}": value for name, value in penalties.items()}}

    def generator_update(self, compute_loss: Callable[[], tuple[Tensor, Metrics]],
                         step_schedulers: bool = True) -> Metrics:
        """One optimizer step of the generator on the loss ``compute_loss`` returns (with its own
        statistics), computed while only the generator's parameters require gradients, so the
        discriminator's are not computed. Counts ``g_iters`` and steps the learning-rate
        schedules (once per generator iteration, both nets)."""
        opt_g, _ = self.optimizer_pair()
        with self.toggled_optimizer(opt_g):
            loss_g, metrics = compute_loss()
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        self.g_iters += 1
        if step_schedulers:
            for scheduler in self._schedulers():
                scheduler.step()
        return {"train/loss_g": loss_g, **metrics}

    def count_batch(self, batch_size: int) -> None:
        """Real images shown this batch, all ranks together (``kimg``)."""
        self.images_seen += batch_size * self.trainer.world_size

    def log_step(self, metrics: Metrics, batch_size: int) -> None:
        """On logging steps only: the step's statistics as means, the progress counters and the
        generator's learning rate when it is scheduled, sent to the loggers."""
        if not self._log_now():
            return
        reduced = {k: v.detach().mean() if isinstance(v, Tensor) else float(v) for k, v in metrics.items()}
        reduced.update({"progress/g_iters": float(self.g_iters), "progress/kimg": self.kimg})
        if self._schedulers():
            reduced["train/lr_g"] = float(self.optimizer_pair()[0].param_groups[0]["lr"])
        self.log_training(reduced, batch_size=batch_size)
