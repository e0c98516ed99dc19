"""SRGAN (Ledig et al. 2017) and SRResNet: the one loop with the ``SuperResolution`` task, because
its batches are (low-res, high-res) pairs rather than noise.

Each training batch is one generator iteration (``g_iters``). Without ``adversarial`` (SRResNet)
it is one generator step on the pixel MSE. With it (SRGAN), the first ``pretrain_steps``
iterations are SRResNet steps, then every iteration is one discriminator step and one generator
step on ``content + adversarial_weight * adversarial`` (the paper's 1e-3), where the content loss
is the pixel MSE or the VGG54 feature loss. ``generator_ckpt`` starts from a trained SRResNet.
Lightning's ``global_step`` counts optimizer steps: 1 per pretraining iteration, 2 after.
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate
from torch import Tensor
from torch.nn import functional as F
from torch.optim.lr_scheduler import LambdaLR

from ganforge.errors import GanforgeError
from ganforge.files import open_checkpoint
from ganforge.losses import get_loss
from ganforge.models.checkpoints import plain
from ganforge.models.loop import AdversarialLoop
from ganforge.models.tasks import SuperResolution
from ganforge.nets.srresnet import VGGFeatures, bicubic_upscale
from ganforge.schedules import StepDrop

CONTENT_LOSSES = ("pixel", "vgg54")
VGG_RESCALE = 1 / 12.75  # the paper rescales the VGG feature maps by 1/12.75 (MSE-comparable magnitudes)


def load_vgg(weights: str | None) -> VGGFeatures:
    """VGG19 features for the content loss; a ``GanforgeError`` naming the fix when the ImageNet
    weights are neither in the torch hub cache nor downloadable."""
    try:
        with torch.random.fork_rng():  # building VGG draws initial weights: keep the run's RNG as it is
            return VGGFeatures(weights)
    except Exception as err:  # URLError, HTTPError, OSError, a truncated file: all mean "no weights"
        from torch.hub import get_dir

        raise GanforgeError(
            f"the VGG54 content loss needs torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth, 548 MB) and "
            f"they could not be loaded ({type(err).__name__}: {err}). Put the file in {get_dir()}/checkpoints/, "
            "allow the download, or train with the pixel loss: model.content_loss=pixel") from None


class SRGAN(AdversarialLoop):
    def __init__(
        self,
        generator: dict,
        discriminator: dict | None,
        optimizer_g: dict,
        optimizer_d: dict | None,
        sample_shape: list[int],
        num_classes: int = 0,
        scale: int = 4,
        adversarial: bool = True,
        content_loss: str = "vgg54",
        adversarial_weight: float = 1e-3,
        loss: str = "non_saturating",
        pretrain_steps: int = 0,
        generator_ckpt: str | None = None,
        vgg_weights: str | None = "imagenet",
        lr_drop: dict | None = None,
        run_length: int | None = None,
    ) -> None:
        super().__init__(run_length)
        hparams = {k: plain(v) for k, v in locals().items() if k not in ("self", "__class__", "run_length")}
        hparams["sample_shape"] = [int(s) for s in sample_shape]
        self.save_hyperparameters(hparams)
        if content_loss not in CONTENT_LOSSES:
            raise GanforgeError(f"model.content_loss must be one of {', '.join(CONTENT_LOSSES)}, got {content_loss!r}")
        if adversarial and (discriminator is None or optimizer_d is None):
            raise GanforgeError("model.adversarial=true needs model.discriminator and model.optimizer_d")
        if lr_drop and (set(lr_drop) != {"at", "factor"} or not 0.0 <= float(lr_drop["at"]) <= 1.0
                        or float(lr_drop["factor"]) <= 0.0):
            raise GanforgeError(f"model.lr_drop must be null or {{at: <fraction of the adversarial phase in "
                                f"[0, 1]>, factor: <positive>}}, got {lr_drop}")
        if pretrain_steps < 0:
            raise GanforgeError(f"model.pretrain_steps must be 0 or more, got {pretrain_steps}")
        if run_length is not None and pretrain_steps > run_length:
            raise GanforgeError(f"model.pretrain_steps ({pretrain_steps}) is longer than the run "
                                f"(g_iters={run_length})")
        self.scale, self.adversarial = int(scale), adversarial
        self.sample_shape = tuple(hparams["sample_shape"])
        self.generator = instantiate(hparams["generator"], scale=self.scale)
        self.discriminator = instantiate(hparams["discriminator"]) if adversarial else None
        self.loss = get_loss(loss)
        self.task = SuperResolution(self)
        # Frozen VGG kept out of the module tree (80 MB that every checkpoint would otherwise carry),
        # loaded by before_fit: inference (upscale.py, load_module) never needs its weights.
        self._vgg: tuple[VGGFeatures, ...] = ()
        if generator_ckpt:
            self.load_generator(generator_ckpt)

    # ---- the surface for callbacks, upscale.py and the progress display ------------------------
    @property
    def pretraining(self) -> bool:
        return not self.adversarial or self.g_iters < self.hparams.pretrain_steps

    @torch.no_grad()
    def super_resolve(self, lr: Tensor) -> Tensor:
        """LR batch in [-1, 1] -> SR batch in [-1, 1] (eval mode, float32)."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(lr.to(self.device)).float().clamp(-1.0, 1.0)
        finally:
            self.generator.train(was_training)

    def bicubic(self, lr: Tensor) -> Tensor:
        return bicubic_upscale(lr, self.scale)

    def load_generator(self, path: str) -> None:
        """Generator weights from a checkpoint of this class (e.g. a ``model=srresnet`` run)."""
        checkpoint = open_checkpoint(path, "model.generator_ckpt")
        weights = {k.removeprefix("generator."): v for k, v in checkpoint.get("state_dict", {}).items()
                   if k.startswith("generator.")}
        saved_scale = checkpoint.get("hyper_parameters", {}).get("scale")
        if not weights or saved_scale is None:
            raise GanforgeError(f"model.generator_ckpt={path} is not a checkpoint of model=srresnet or model=srgan")
        if int(saved_scale) != self.scale:
            raise GanforgeError(f"model.generator_ckpt={path} was trained for x{saved_scale}, this run is "
                                f"x{self.scale} (data.scale)")
        try:
            self.generator.load_state_dict(weights)
        except RuntimeError as err:
            raise GanforgeError(f"model.generator_ckpt={path} has another generator architecture than "
                                f"model.generator: {str(err).splitlines()[0]} ...") from None

    # ---- training ----------------------------------------------------------------------------
    def before_fit(self, datamodule: Any, model: Any) -> None:
        """The data's scale must match, and the VGG weights of the content loss must load (here,
        before the data is read, rather than at the first step)."""
        if getattr(datamodule, "scale", self.scale) != self.scale:
            raise GanforgeError(f"model.scale={self.scale} but data.scale={datamodule.scale}")
        super().before_fit(datamodule, model)
        self.load_content_network()

    def load_content_network(self) -> None:
        if self.adversarial and self.hparams.content_loss == "vgg54" and not self._vgg:
            self._vgg = (load_vgg(self.hparams.vgg_weights),)

    def optimizer_specs(self) -> list[tuple[str, Any, Any]]:
        specs = [("model.optimizer_g", self.hparams.optimizer_g, self.generator.parameters())]
        if self.adversarial:
            specs.append(("model.optimizer_d", self.hparams.optimizer_d, self.discriminator.parameters()))
        return specs

    def configure_optimizers(self):
        optimizers = self.build_optimizers()
        if not self.adversarial:
            return optimizers[0]
        if not self.hparams.lr_drop:
            return optimizers
        adversarial_iters = (self.run_length or 0) - self.hparams.pretrain_steps
        if adversarial_iters < 1:
            raise GanforgeError("model.lr_drop needs a run length in generator iterations: set g_iters")
        drop = StepDrop(round(float(self.hparams.lr_drop["at"]) * adversarial_iters), self.hparams.lr_drop["factor"])
        return optimizers, [LambdaLR(opt, drop) for opt in optimizers]

    def content(self, sr: Tensor, hr: Tensor) -> Tensor:
        self.load_content_network()
        if not self._vgg:
            return F.mse_loss(sr, hr)
        vgg = self._vgg[0].to(self.device)
        return F.mse_loss(vgg(sr) * VGG_RESCALE, vgg(hr) * VGG_RESCALE)

    def discriminate(self, x: Tensor, y: Tensor | None = None, **net_args: Any) -> Tensor:
        return self.discriminator(x)

    def pixel_loss(self, sr: Tensor, hr: Tensor) -> tuple[Tensor, dict[str, Any]]:
        loss = F.mse_loss(sr.float(), hr.float())
        return loss, {"train/loss_pixel": loss}

    def perceptual_loss(self, sr: Tensor, hr: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """The paper's ``content + adversarial_weight * adversarial``."""
        content = self.content(sr.float(), hr.float())
        adversarial = self.loss.generator(self.discriminate(sr).float())
        return (content + self.hparams.adversarial_weight * adversarial,
                {"train/loss_content": content, "train/loss_adversarial": adversarial})
