"""The one training loop for GANs that map noise (and optionally a class label) to samples.

Manual optimization: each batch is one ``discriminator_step``; every ``n_critic``-th batch is
also one ``generator_step`` (both built on ``AdversarialModule``, which SRGAN shares). The run's
length is counted in generator iterations (``progress/g_iters``) and ``progress/kimg`` (thousands
of real images shown to the discriminator, all ranks together).

The surface used by callbacks and evaluation: ``generate``, ``sample``, ``generate_fixed``, ``sample_shape``,
``num_classes``, ``conditional``, ``kimg`` and the ``g_iters``/``images_seen`` counters
(``ganforge.surfaces.NoiseToSamples``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

from ganforge.augment import DiffAugment
from ganforge.errors import GanforgeError
from ganforge.losses import get_loss
from ganforge.models.adversarial import AdversarialModule
from ganforge.models.state import plain
from ganforge.penalties import get_penalty
from ganforge.schedules import LinearDecay, check_warmup, critic_steps_at


class EmaWithWarmup:
    """EMA update whose decay ramps up as ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates
    (the num_updates rule of TensorFlow's ExponentialMovingAverage). A fixed 0.999 would keep the
    random initial weights at 0.999**t of the average (55 % after 600 iterations): early sample
    grids of EMA models would show noise while the trained generator already draws shapes.

    ``begin(n_averaged)`` is called once per update, before ``AveragedModel.update_parameters``
    (which calls this object once per dtype group of the weights); ``t`` is read from the averaged model's
    counter once (after a resume too) and then counted on the host, so no update waits for a GPU."""

    def __init__(self, decay: float) -> None:
        self.decay = float(decay)
        self.updates: int | None = None

    def begin(self, n_averaged: Tensor) -> None:
        self.updates = int(n_averaged) if self.updates is None else self.updates + 1

    def __call__(self, averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        decay = min(self.decay, (1 + (self.updates or 0)) / (10 + (self.updates or 0)))
        torch._foreach_lerp_(averaged, current, 1.0 - decay)


class GAN(AdversarialModule):
    """Generator + discriminator built from configs, an adversarial loss chosen by name,
    ``n_critic`` discriminator steps per generator step, and options any variant can switch on:
    penalties by name and weight (gradient penalty, R1, drift), critic weight clipping,
    DiffAugment, an EMA generator. Separate optimizer configs give TTUR."""

    def __init__(
        self,
        generator: dict,
        discriminator: dict,
        optimizer_g: dict,
        optimizer_d: dict,
        sample_shape: Sequence[int],
        num_classes: int = 0,
        conditional: bool = False,
        z_dim: int = 100,
        loss: str = "non_saturating",
        loss_kwargs: dict | None = None,
        penalties: dict | None = None,
        clip_weights: float | None = None,
        augment: Sequence[str] = (),
        n_critic: int = 1,
        critic_warmup: dict | None = None,
        ema_decay: float | None = None,
        lr_decay_start: float | None = None,
        pack: int = 1,
        num_fixed_samples: int | None = None,
        channels_last: bool = True,
        compile: bool = False,
        reuse_fake: bool = False,
    ) -> None:
        super().__init__()
        hparams = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__")}
        hparams["sample_shape"] = [int(s) for s in sample_shape]
        hparams["augment"] = list(augment)
        self.save_hyperparameters(hparams)
        self.automatic_optimization = False
        if n_critic < 1:
            raise GanforgeError(f"model.n_critic must be at least 1, got {n_critic}")
        try:
            self.critic_warmup = check_warmup(hparams["critic_warmup"])
        except ValueError as err:
            raise GanforgeError(str(err)) from None
        self.critic_steps = 0  # critic steps since the last generator step
        if conditional and num_classes == 0:
            raise GanforgeError("this model is conditional (model.conditional=true) but the data has no class "
                                "labels; choose a labelled dataset (mnist, fashion_mnist, cifar10) or an "
                                "unconditional model")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise GanforgeError(f"model.ema_decay must be in (0, 1) or null, got {ema_decay}")
        if pack < 1 or (pack > 1 and conditional):
            raise GanforgeError(f"model.pack must be 1 or more, and 1 for conditional models, got {pack}")
        if lr_decay_start is not None and not 0.0 <= lr_decay_start < 1.0:
            raise GanforgeError(f"model.lr_decay_start must be in [0, 1) or null, got {lr_decay_start}")
        self.sample_shape = tuple(hparams["sample_shape"])
        self.conditional, self.num_classes = conditional, num_classes
        label_classes = num_classes if conditional else 0
        self.loss = get_loss(loss, **(loss_kwargs or {}))
        self.penalties = {name: (get_penalty(name), float(weight)) for name, weight in (penalties or {}).items()
                          if weight}
        if clip_weights is not None and clip_weights <= 0:
            raise GanforgeError(f"model.clip_weights must be positive or null, got {clip_weights}")
        self.clip_value = clip_weights
        self.augment = DiffAugment(augment)
        if self.augment and len(self.sample_shape) != 3:
            raise GanforgeError("model.augment (DiffAugment) works on images only; set model.augment=[] for 2-D data")
        self.generator = instantiate(
            hparams["generator"], z_dim=z_dim, sample_shape=self.sample_shape, num_classes=label_classes)
        # PacGAN packing: the discriminator judges `pack` samples at once, stacked along the first
        # (channel / coordinate) axis, so it sees sample diversity directly (Lin et al. 2018).
        packed_shape = (self.sample_shape[0] * pack, *self.sample_shape[1:])
        self.discriminator = instantiate(
            hparams["discriminator"], sample_shape=packed_shape, num_classes=label_classes)
        self.ema = None
        if ema_decay is not None:
            self.ema_rule = EmaWithWarmup(ema_decay)
            # Weights are averaged; buffers (BatchNorm's running statistics) are statistics of the
            # trained generator and are copied from it after each update, as stylegan2-ada and StudioGAN do.
            self.ema = AveragedModel(self.generator, multi_avg_fn=self.ema_rule, use_buffers=False)
            self.ema.requires_grad_(False)
        # Images: an 8-column grid (conditional: one row per class); points: a scatter of 2,000.
        self.grid_columns = 8
        if num_fixed_samples is None:
            num_fixed_samples = (8 * num_classes if conditional else 64) if len(self.sample_shape) == 3 else 2000
        fixed = torch.Generator().manual_seed(1234)
        self.register_buffer("fixed_z", torch.randn(num_fixed_samples, z_dim, generator=fixed))
        labels = torch.arange(num_fixed_samples) // self.grid_columns % max(num_classes, 1)
        self.register_buffer("fixed_labels", labels)

    # ---- the surface for callbacks and evaluation (surfaces.NoiseToSamples) -----------------
    @property
    def evaluation_ready(self) -> bool:
        """Samples are final from the start (ProGAN says otherwise below its last resolution)."""
        return True

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The EMA generator when there is one (better samples), else the trained one."""
        return self.ema.module if self.ema is not None else self.generator

    @torch.no_grad()
    def generate(self, z: Tensor | None = None, labels: Tensor | None = None, n: int | None = None) -> Tensor:
        """Samples in eval mode, float32; ``z`` defaults to ``n`` fresh normal draws."""
        if z is None:
            z = torch.randn(n or 64, self.hparams.z_dim, device=self.device)
        if self.conditional and labels is None:
            labels = torch.randint(self.num_classes, (len(z),), device=z.device)
        net = self.sampling_generator
        was_training = net.training
        net.eval()
        try:
            y = labels.to(self.device) if self.conditional else None
            return self.generate_with(net, z.to(self.device), y, **self.net_args()).float()
        finally:
            net.train(was_training)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """``n`` samples whose latents (then labels, for conditional models) come from ``rng`` on the
        CPU: evaluation and sampling never draw from the global RNG, so training is unaffected and
        a seed gives the same latents on any device."""
        z = torch.randn(n, self.hparams.z_dim, generator=rng)
        labels = torch.randint(self.num_classes, (n,), generator=rng) if self.conditional else None
        return self.generate(z, labels)

    def generate_fixed(self) -> Tensor:
        """Samples from the fixed noise saved in the checkpoint (the same grid every time)."""
        return self.generate(self.fixed_z, self.fixed_labels)

    def critic_steps_now(self) -> int:
        """Critic steps the current generator iteration takes (``n_critic``, or WGAN's warm-up)."""
        return critic_steps_at(self.g_iters, self.hparams.n_critic, self.critic_warmup)

    # ---- training ----------------------------------------------------------------------------
    def optimizer_specs(self) -> list[tuple[str, Any, Any]]:
        return [("model.optimizer_g", self.hparams.optimizer_g, self.generator.parameters()),
                ("model.optimizer_d", self.hparams.optimizer_d, self.discriminator.parameters())]

    def configure_optimizers(self):
        opt_g, opt_d = self.build_optimizers()
        if self.hparams.lr_decay_start is None:
            return [opt_g, opt_d]
        total = self.run_length or 0
        if total < 1:
            raise GanforgeError("model.lr_decay_start needs a run length in generator iterations: set g_iters")
        schedule = LinearDecay(total, self.hparams.lr_decay_start)
        return [opt_g, opt_d], [LambdaLR(opt_g, schedule), LambdaLR(opt_d, schedule)]

    def on_fit_start(self) -> None:
        if self.hparams.channels_last and self.device.type == "cuda" and len(self.sample_shape) == 3:
            for net in (self.generator, self.discriminator):
                net.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            self.generator.compile()
            self.discriminator.compile()

    def _prepare(self, x: Tensor) -> Tensor:
        if self.hparams.channels_last and x.ndim == 4 and x.is_cuda:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def update_ema(self) -> None:
        self.ema_rule.begin(self.ema.n_averaged)
        self.ema.update_parameters(self.generator)
        ema_buffers = list(self.ema.module.buffers())
        if ema_buffers:
            torch._foreach_copy_(ema_buffers, list(self.generator.buffers()))

    def net_args(self) -> dict[str, Any]:
        """Arguments both nets take besides their inputs at the current point of training (none
        here; ProGAN: ``stage`` and ``alpha``). A training step reads them once, at its start."""
        return {}

    def generate_with(self, net: torch.nn.Module, z: Tensor, y: Tensor | None, **net_args: Any) -> Tensor:
        """Every generator call goes through here."""
        return net(z, y, **net_args)

    def before_fit(self, datamodule: Any) -> None:
        """The data's batch must split into PacGAN groups."""
        super().before_fit(datamodule)
        batch = getattr(datamodule, "batch_size", None)
        if self.hparams.pack > 1 and batch is not None and batch % self.hparams.pack:
            raise GanforgeError(f"data.batch_size ({batch}) must be a multiple of model.pack ({self.hparams.pack})")

    def pack(self, x: Tensor) -> Tensor:
        """(n, C, ...) -> (n / pack, pack * C, ...): consecutive samples judged together."""
        m = self.hparams.pack
        return x if m == 1 else x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])

    def discriminate(self, x: Tensor, y: Tensor | None = None, **net_args: Any) -> Tensor:
        """The discriminator's scores for clean, unpacked samples: DiffAugment, PacGAN packing, then
        the net. Penalties differentiate through this whole call, so R1's gradient is taken with
        respect to the clean image and the gradient penalty interpolates clean reals and fakes
        (stylegan2-ada augments inside the discriminator call too)."""
        return self.discriminator(self.pack(self.augment(x)), y, **net_args)

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, self.hparams.z_dim, device=self.device)

    def generator_step(self, n: int, y: Tensor | None, fake: Tensor | None = None, **net_args: Any) -> dict[str, Any]:
        """One generator iteration: ``loss.generator`` on ``n`` fresh samples (or on ``fake``, the
        critic's batch with its graph, under ``reuse_fake``), then the EMA update."""
        def adversarial_loss() -> tuple[Tensor, dict[str, Any]]:
            generated = fake if fake is not None else self.generate_with(self.generator, self.noise(n), y, **net_args)
            return self.loss.generator(self.discriminate(generated, y, **net_args).float()), {}

        metrics = self.generator_update(adversarial_loss)
        if self.ema is not None:
            self.update_ema()
        return metrics

    def adversarial_step(self, real: Tensor, y: Tensor | None, **net_args: Any) -> dict[str, Any]:
        """One batch of real samples: a discriminator step against as many generated ones, and a
        generator step when the critic has taken its ``n_critic`` steps. Returns the statistics."""
        n = real.shape[0]
        generator_due = self.critic_steps + 1 >= self.critic_steps_now()
        # reuse_fake: the generator step trains on the critic's batch (pytorch/examples' DCGAN
        # recipe), generated once with its graph instead of twice.
        reuse = self.hparams.reuse_fake and generator_due
        with torch.set_grad_enabled(reuse):
            fake = self.generate_with(self.generator, self.noise(n), y, **net_args)
        metrics = self.discriminator_step(real, fake.detach(), y, **net_args)
        self.count_batch(n)
        self.critic_steps += 1
        if generator_due:
            self.critic_steps = 0
            metrics.update(self.generator_step(n, y, fake if reuse else None, **net_args))
        if self.critic_warmup:
            metrics["progress/n_critic"] = float(self.critic_steps_now())
        return metrics

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, labels = batch
        metrics = self.adversarial_step(self._prepare(real), labels if self.conditional else None, **self.net_args())
        self.log_step(metrics, batch_size=real.shape[0])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["counters"]["critic_steps"] = self.critic_steps

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        counters = checkpoint.get("counters", {})  # before critic_steps was saved: a fixed n_critic
        self.critic_steps = int(counters.get("critic_steps", self.d_steps % self.hparams.n_critic))
