"""The one training loop of every ganforge model, read top to bottom in ``training_step``.

A model's *task* turns each batch into a ``Step``: the reals the critic sees, the class labels,
and the generator, critic and generator loss bound to this step's arguments (ProGAN's stage and
alpha are bound once, here, not threaded through calls). The loop then takes the phases every
adversarial model shares: the critic's step, the generator's step when the critic has taken its
``n_critic`` steps, the EMA update, and logging. What differs between the noise-to-sample models,
ProGAN's growth and SRGAN's (low-res, high-res) pairs is in their tasks (``ganforge.models.tasks``).

Manual optimization, optimizers in the order (generator, discriminator). The counters
(``g_iters``, ``d_steps``, ``images_seen``, ``critic_steps``) are plain ints, not buffers (reading a
CUDA buffer every batch would sync the GPU), saved in checkpoints with the RNG state and the class.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import lightning as L
import torch
from torch import Tensor

from ganforge.lightning_internals import logs_this_step
from ganforge.models.checkpoints import check_same_hparams, class_path, saved_hparams
from ganforge.models.optimizers import build_optimizers
from ganforge.models.rng import capture_rng, restore_rng
from ganforge.schedules import critic_steps_at

Metrics = dict[str, Any]
Penalty = Callable[..., Tensor]


@dataclass
class Step:
    """One batch, as the loop trains on it. ``generate()`` makes the critic's generated batch;
    ``generator_loss(fake)`` is the generator's loss on that batch when the generator step may reuse
    it (``reuse_fake``), else on a fresh one (``fake`` is None); ``discriminate(x, y)`` is the critic
    (with augmentation, packing, ...) that losses and penalties differentiate through."""

    real: Tensor
    labels: Tensor | None
    generate: Callable[[], Tensor]
    discriminate: Callable[..., Tensor]
    generator_loss: Callable[[Tensor | None], tuple[Tensor, Metrics]]
    reuse_fake: bool = False
    simultaneous: bool = False  # the critic and generator step from one graph (PacGAN's and ALI's code)
    trains_critic: bool = True   # false: a generator-only step (SRGAN's pretraining, SRResNet)
    steps_schedules: bool = True  # learning-rate schedules move with this step's generator iteration
    stats: Metrics = field(default_factory=dict)  # logged with the step (ProGAN: stage, alpha)

    @property
    def batch_size(self) -> int:
        return int(self.real.shape[0])


class Task(Protocol):
    """What a model supplies to the loop: each batch as a ``Step``, and any net bound to the current
    point of training (for sampling outside a step)."""

    def step(self, batch: Any) -> Step: ...

    def bind(self, net: torch.nn.Module) -> Callable[..., Tensor]: ...


class AdversarialLoop(L.LightningModule):
    """The loop. Subclasses build ``generator``, ``discriminator`` (None: generator only), ``loss``
    and ``task`` in their constructors, and may set ``penalties`` (name -> (function, weight)),
    ``clip_value`` (WGAN's weight clipping), ``n_critic`` and ``critic_warmup``, and ``ema``."""

    def __init__(self, run_length: int | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.run_length = run_length  # generator iterations of the whole run (schedules are laid out over it)
        self.g_iters = self.d_steps = self.images_seen = 0
        self.critic_steps = 0  # critic steps since the last generator step
        self.n_critic: int = 1
        self.critic_warmup: dict[str, int] | None = None
        self.penalties: dict[str, tuple[Penalty, float]] = {}
        self.penalty_precision = "fp32"  # or "autocast": the penalties run in the training precision
        self.penalty_every = 1  # lazy regularization: the penalties on one critic step in this many
        self.penalty_batch: int | None = None  # the penalties on the first this many samples (None: all)
        self.critic_compiled = False  # then the penalties' critic passes run eagerly
        self.clip_value: float | None = None
        self.ema: Any = None  # an AveragedModel of the generator, updated after each generator step
        self.task: Task
        self.loss: Any
        self._pending_rng: dict | None = None

    @property
    def kimg(self) -> float:
        """Thousands of real images shown to the discriminator, all ranks together."""
        return self.images_seen / 1000.0

    def critic_steps_now(self) -> int:
        """Critic steps the current generator iteration takes (``n_critic``, or WGAN's warm-up)."""
        return critic_steps_at(self.g_iters, self.n_critic, self.critic_warmup)

    # ---- the step ------------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> Metrics | None:
        """One batch: a critic step against a generated batch, a generator step when the critic
        has taken its steps (then the EMA), the statistics logged. Returns what was logged (on
        logging steps; callbacks get it as ``outputs``)."""
        step = self.task.step(batch)
        generator_due = self.critic_steps + 1 >= self.critic_steps_now()
        # the generator step trains on this very batch (simultaneous updates do too: one graph)
        keep_graph = (step.reuse_fake or step.simultaneous) and generator_due
        with torch.set_grad_enabled(keep_graph):
            fake = step.generate()
        generator_stats: Metrics | None = None
        if step.simultaneous and generator_due:  # the generator's gradients before the critic moves
            generator_stats = self.generator_backward(step, fake)
        stats = self.critic_step(step, fake.detach()) if step.trains_critic else {}
        self.images_seen += step.batch_size * self.trainer.world_size
        self.critic_steps += 1
        if generator_due:
            self.critic_steps = 0
            if generator_stats is None:
                generator_stats = self.generator_backward(step, fake if keep_graph else None)
            self.generator_update(step)
            stats.update(generator_stats)
        if self.critic_warmup:
            stats["progress/n_critic"] = float(self.critic_steps_now())
        stats.update(step.stats)
        return self.log_step(stats, step.batch_size)

    def critic_step(self, step: Step, fake: Tensor) -> Metrics:
        """One optimizer step of the discriminator: ``loss.discriminator`` on real and generated
        samples plus each weighted penalty, then weight clipping when set. Returns the statistics
        unreduced, so a step that does not log launches no reduction."""
        _, opt_d = self.optimizer_pair()
        d_real = step.discriminate(step.real, step.labels).float()
        d_fake = step.discriminate(fake, step.labels).float()
        loss_d = self.loss.discriminator(d_real, d_fake)
        penalty, penalties = self.weighted_penalties(step.discriminate, step.real, fake, step.labels, d_real)
        total = loss_d + penalty
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

    def weighted_penalties(self, discriminate: Callable[..., Tensor], real: Tensor, fake: Tensor, y: Tensor | None,
                           d_real: Tensor) -> tuple[Tensor | float, dict[str, Tensor]]:
        """The weighted sum of the penalties for this critic step, and their unweighted values (empty
        on steps without them). Lazy regularization (Karras et al. 2020, StyleGAN2): with
        ``penalty_every=k`` they run on one critic step in k with k times the weight, the same
        expected gradient for a k-th of their extra critic pass and double backward."""
        if not self.penalties or self.d_steps % self.penalty_every:
            return 0.0, {}
        values = self.penalty_values(discriminate, real, fake, y, d_real)
        return self.penalty_every * sum(self.penalties[name][1] * value for name, value in values.items()), values

    def penalty_values(self, discriminate: Callable[..., Tensor], real: Tensor, fake: Tensor, y: Tensor | None,
                       d_real: Tensor) -> dict[str, Tensor]:
        """Each configured penalty (unweighted) on the clean real and generated samples. In fp32 by
        default (autocast off: the reference code runs in fp32, and under bf16 the gradient norm
        carries 3 digits); ``penalty_precision="autocast"`` keeps the training precision, because
        the penalty's critic pass and double backward cost as much as the rest of the critic step.
        ``penalty_batch=n`` estimates them on the batch's first n samples: a smaller penalty pass, which
        saves time only where its cost grows with the samples rather than with the operations."""
        if self.penalty_batch is not None and self.penalty_batch < len(real):
            # each penalty is a mean over samples, so the first n estimate it (d_real: one score per
            # PacGAN group, so its share of rows)
            n = self.penalty_batch
            real, fake, d_real = real[:n], fake[:n], d_real[:n * len(d_real) // len(real)]
            y = None if y is None else y[:n]
        precision = contextlib.nullcontext() if self.penalty_precision == "autocast" else \
            torch.autocast(real.device.type, enabled=False)
        # A compiled critic runs its penalty passes eagerly: compiled graphs cannot be differentiated
        # twice, and every penalty that needs the critic's input gradient trains through it. (Switching
        # the stance costs far more than a null context, so only a compiled critic pays it.)
        eager = torch.compiler.set_stance("force_eager") if self.critic_compiled else contextlib.nullcontext()
        with precision, eager:
            return {name: fn(discriminate, real, fake, y, d_real) for name, (fn, _) in self.penalties.items()}

    def generator_backward(self, step: Step, fake: Tensor | None) -> Metrics:
        """The generator's loss and its gradients, computed while only the generator's parameters
        require gradients (no discriminator gradients are computed). Separate from its optimizer
        step so that simultaneous updates take it against the critic before the critic's step."""
        opt_g, _ = self.optimizer_pair()
        with self.toggled_optimizer(opt_g):
            loss_g, stats = step.generator_loss(fake)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
        return {"train/loss_g": loss_g, **stats}

    def generator_update(self, step: Step) -> None:
        """The generator's optimizer step on the gradients ``generator_backward`` left, then the
        learning-rate schedules (once per generator iteration, both nets) and the EMA."""
        opt_g, _ = self.optimizer_pair()
        opt_g.step()
        self.g_iters += 1
        if step.steps_schedules:
            for scheduler in self.schedulers():
                scheduler.step()
        if self.ema is not None:
            self.update_ema()

    def update_ema(self) -> None:
        """Overridden by models with an EMA generator."""

    def log_step(self, stats: Metrics, batch_size: int) -> Metrics | None:
        """On logging steps only (every ``trainer.log_every_n_steps`` batches, and the last:
        ``self.log`` is not free on a GPU step of a small net): the statistics as means, the
        progress counters and the generator's learning rate when it is scheduled, sent to the
        loggers (under DDP as means over ranks: one all-reduce)."""
        if not logs_this_step(self.trainer):
            return None
        reduced = {k: v.detach().mean() if isinstance(v, Tensor) else float(v) for k, v in stats.items()}
        reduced.update({"progress/g_iters": float(self.g_iters), "progress/kimg": self.kimg})
        if self.schedulers():
            reduced["train/lr_g"] = float(self.optimizer_pair()[0].param_groups[0]["lr"])
        self.log_dict(reduced, on_step=True, on_epoch=False, batch_size=batch_size,
                      sync_dist=self.trainer.world_size > 1)
        return reduced

    # ---- optimizers and schedules ----------------------------------------------------------------
    def optimizer_specs(self) -> list[tuple[str, Any, Any]]:
        """(config key, optimizer config, parameters) of each optimizer, in the order of ``optimizers()``."""
        raise NotImplementedError

    def build_optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimizers; a setting torch refuses (e.g. a negative learning rate) is one line naming its key."""
        return build_optimizers(self.optimizer_specs())

    def optimizer_pair(self) -> tuple[Any, Any]:
        """(generator optimizer, discriminator optimizer or None for a generator-only model)."""
        optimizers = self.optimizers()
        if isinstance(optimizers, (list, tuple)):
            return optimizers[0], (optimizers[1] if len(optimizers) > 1 else None)
        return optimizers, None

    def schedulers(self) -> list:
        """The learning-rate schedulers ``configure_optimizers`` returned (none: empty); stepped
        by the loop itself, once per generator iteration (manual optimization steps none)."""
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]

    # ---- before training, and checkpoints --------------------------------------------------------
    def before_fit(self, datamodule: Any, model: Any) -> None:
        """The pre-flight check ``train.run`` calls on the model and on every callback before the
        data is read (``surfaces.ChecksBeforeFit``): the optimizer settings here, subclasses add theirs."""
        self.build_optimizers()

    def on_train_start(self) -> None:
        if self._pending_rng is not None:  # restored only now, so nothing between load and step draws from it
            restore_rng(self._pending_rng)
            self._pending_rng = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganforge_class"] = class_path(self)  # read by load_module
        checkpoint["rng"] = capture_rng()
        checkpoint["counters"] = {"g_iters": self.g_iters, "d_steps": self.d_steps, "images_seen": self.images_seen,
                                  "critic_steps": self.critic_steps}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_same_hparams(saved_hparams(checkpoint), dict(self.hparams))
        self._pending_rng = checkpoint.get("rng")
        counters = checkpoint.get("counters", {})
        self.g_iters = int(counters.get("g_iters", 0))
        self.d_steps = int(counters.get("d_steps", 0))
        self.images_seen = int(counters.get("images_seen", 0))
        # Before critic_steps was saved: a fixed n_critic.
        self.critic_steps = int(counters.get("critic_steps", self.d_steps % self.n_critic))
