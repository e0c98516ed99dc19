"""The GAN model: noise (and optionally a class label) to samples, every variant from vanilla
GAN to WGAN-GP, SNGAN and PacGAN as settings of this one class, trained by the one loop
(``ganforge.models.loop``) with the ``FromNoise`` task. The run's length is counted in generator
iterations (``progress/g_iters``) and ``progress/kimg`` (thousands of real images shown to the
discriminator, all ranks together).

The surface used by callbacks and evaluation: ``generate``, ``sample``, ``generate_fixed``, ``sample_shape``,
``num_classes``, ``conditional``, ``kimg`` and the ``g_iters``/``images_seen`` counters
(``ganforge.surfaces.NoiseToSamples``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import torch
from hydra.utils import instantiate
from torch import Tensor
from torch.nn.utils import parametrize
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

from ganforge.augment import DiffAugment
from ganforge.errors import GanforgeError
from ganforge.losses import get_loss
from ganforge.models.checkpoints import plain
from ganforge.models.loop import AdversarialLoop
from ganforge.models.tasks import FromNoise, latents
from ganforge.models.weights import freeze_first_layers, trainable
from ganforge.penalties import get_penalty
from ganforge.schedules import LinearDecay, check_warmup
from ganforge.schema import Above, Annotated, AtLeast, Range, check_arguments

log = logging.getLogger(__name__)


def check_compiler_for_compile() -> None:
    """``torch.compile`` builds its kernels with a C++ compiler found at the first step, deep in
    the run; look for it now, the way torch's inductor does, so its absence is named before any work."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
    except ImportError:  # another torch layout: torch names the problem itself at the first step
        return
    try:
        get_cpp_compiler()
    except Exception as error:  # inductor's InvalidCxxCompiler, or the OS's error running the search
        raise GanforgeError(
            "model.compile=true compiles the nets with torch.compile, which needs a C++ compiler (g++ or "
            f"clang++ on PATH, or the CXX environment variable), and none was found ({error}); install "
            "one, or train without compiling: model.compile=false") from None


def critic_compile_obstacle(discriminator: torch.nn.Module) -> str | None:
    """Why torch.compile cannot train this critic, or None: spectral norm's power iteration updates
    its vectors in place between the compiled forward and its backward. (Gradient penalties are no
    obstacle: the loop runs their critic passes eagerly.)"""
    if any(parametrize.is_parametrized(m) for m in discriminator.modules()):
        return "its weights are parametrized (spectral norm)"
    return None


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


class GAN(AdversarialLoop):
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
        z_dim: Annotated[int, AtLeast(1)] = 100,
        loss: str = "non_saturating",
        loss_kwargs: dict | None = None,
        penalties: dict | None = None,
        penalty_precision: Literal["fp32", "autocast"] = "fp32",
        penalty_every: Annotated[int, AtLeast(1)] = 1,
        penalty_batch: Annotated[int | None, AtLeast(1)] = None,
        clip_value: Annotated[float | None, Above(0)] = None,
        augment: Sequence[str] = (),
        n_critic: Annotated[int, AtLeast(1)] = 1,
        critic_warmup: dict | None = None,
        ema_decay: Annotated[float | None, Range(0, 1, low_open=True, high_open=True)] = None,
        lr_decay_start: Annotated[float | None, Range(0, 1, high_open=True)] = None,
        pack: Annotated[int, AtLeast(1)] = 1,
        num_fixed_samples: Annotated[int | None, AtLeast(1)] = None,
        channels_last: bool = True,
        compile: bool = False,
        reuse_fake: bool = False,
        simultaneous: bool = False,
        freeze_d_layers: Annotated[int, AtLeast(0)] = 0,
        run_length: int | None = None,
    ) -> None:
        check_arguments(GAN.__init__, locals(), "model")
        super().__init__(run_length)
        hparams = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__", "run_length")}
        hparams["sample_shape"] = [int(s) for s in sample_shape]
        hparams["augment"] = list(augment)
        self.save_hyperparameters(hparams)
        self.critic_warmup = check_warmup(hparams["critic_warmup"])
        self.n_critic = int(n_critic)
        if conditional and num_classes == 0:
            raise GanforgeError("this model is conditional (model.conditional=true) but the data has no class "
                                "labels; choose a labelled dataset (mnist, fashion_mnist, cifar10) or an "
                                "unconditional model")
        if penalty_batch is not None and penalty_batch % pack:
            raise GanforgeError(f"model.penalty_batch ({penalty_batch}) must be a multiple of model.pack ({pack})")
        if pack > 1 and conditional:  # the ranges of single settings are in the signature (ganforge.schema)
            raise GanforgeError(f"model.pack must be 1 for conditional models, got {pack}")
        self.sample_shape = tuple(hparams["sample_shape"])
        self.conditional, self.num_classes = conditional, num_classes
        label_classes = num_classes if conditional else 0
        self.loss = get_loss(loss, **(loss_kwargs or {}))
        self.penalties = {name: (get_penalty(name), float(weight)) for name, weight in (penalties or {}).items()
                          if weight}
        self.penalty_precision = penalty_precision
        self.penalty_every = int(penalty_every)
        self.penalty_batch = penalty_batch
        self.clip_value = clip_value
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
        if freeze_d_layers:  # FreezeD: fine-tuning keeps the discriminator's lower layers
            freeze_first_layers(self.discriminator, freeze_d_layers)
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
        self.task = self.make_task()

    def make_task(self) -> FromNoise:
        return FromNoise(self)

    # ---- the surface for callbacks and evaluation (surfaces.NoiseToSamples) -----------------
    @property
    def evaluation_ready(self) -> bool:
        """Samples are final from the start (ProGAN says otherwise below its last resolution)."""
        return True

    @property
    def growth_stage(self) -> str | None:
        """The growth stage the next step trains (ProGAN: its resolution); None for nets that do not grow."""
        return None

    @property
    def z_dim(self) -> int:
        return int(self.hparams.z_dim)

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
            return self.task.bind(net)(z.to(self.device), y).float()
        finally:
            net.train(was_training)

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """``n`` samples whose latents (then labels, for conditional models) come from ``rng`` on the
        CPU: evaluation and sampling never draw from the global RNG, so training is unaffected and
        a seed gives the same latents on any device."""
        return self.generate(*latents(n, self.z_dim, self.num_classes if self.conditional else 0, rng))

    def sample_classes(self, labels: Tensor, rng: torch.Generator) -> Tensor:
        """One sample per entry of ``labels`` (ignored by unconditional models), latents from ``rng``."""
        z = torch.randn(len(labels), self.z_dim, generator=rng)
        return self.generate(z, labels if self.conditional else None)

    def generate_fixed(self) -> Tensor:
        """Samples from the fixed noise saved in the checkpoint (the same grid every time)."""
        return self.generate(self.fixed_z, self.fixed_labels)

    # ---- training ----------------------------------------------------------------------------
    def optimizer_specs(self) -> list[tuple[str, Any, Any]]:
        return [("model.optimizer_g", self.hparams.optimizer_g, self.generator.parameters()),
                ("model.optimizer_d", self.hparams.optimizer_d, trainable(self.discriminator.parameters()))]

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
            reason = critic_compile_obstacle(self.discriminator)
            if reason:
                log.info("model.compile: the discriminator stays uncompiled (%s); the generator is compiled", reason)
            else:
                self.discriminator.compile()
                self.critic_compiled = True

    def prepare_real(self, x: Tensor) -> Tensor:
        if self.hparams.channels_last and x.ndim == 4 and x.is_cuda:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def update_ema(self) -> None:
        self.ema_rule.begin(self.ema.n_averaged)
        self.ema.update_parameters(self.generator)
        ema_buffers = list(self.ema.module.buffers())
        if ema_buffers:
            torch._foreach_copy_(ema_buffers, list(self.generator.buffers()))

    def before_fit(self, datamodule: Any, model: Any) -> None:
        """The data's batch must split into PacGAN groups, and compiled nets need a C++ compiler."""
        super().before_fit(datamodule, model)
        if self.hparams.compile:
            check_compiler_for_compile()
        batch = getattr(datamodule, "batch_size", None)
        if self.hparams.pack > 1 and batch is not None and batch % self.hparams.pack:
            raise GanforgeError(f"data.batch_size ({batch}) must be a multiple of model.pack ({self.hparams.pack})")
        if self.penalty_batch is not None and batch is not None and self.penalty_batch > batch:
            raise GanforgeError(f"model.penalty_batch ({self.penalty_batch}) is larger than data.batch_size ({batch})")

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
