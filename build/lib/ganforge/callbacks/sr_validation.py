"""Super-resolution validation every N generator iterations and at the end: PSNR and SSIM on Y
(SRGAN protocol: ``scale`` border pixels shaved) and LPIPS where its backbone weights load, over the
datamodule's fixed held-out pairs; the bicubic baseline's numbers are logged once
(``val/psnr_bicubic`` ...) and every evaluation also logs SR minus bicubic (``val/psnr_gain``).
A panel per validation image, LR (nearest-upscaled) | bicubic | SR | HR, is saved and sent to the
loggers. Idle for models without ``super_resolve`` (every noise-to-image GAN)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from torch import Tensor
from torchvision.utils import save_image

from ganforge.callbacks.interrupt import interrupted
from ganforge.callbacks.publish import publish
from ganforge.media import image_grid, log_image_file
from ganforge.metrics.sr import psnr_ssim_y
from ganforge.schedules import Cadence
from ganforge.surfaces import PairedImages, SuperResolver, require

log = logging.getLogger(__name__)


def build_lpips() -> torch.nn.Module | None:
    """torchmetrics' LPIPS (AlexNet backbone), or None with one warning when the backbone's
    ImageNet weights can be neither found nor downloaded."""
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        with torch.random.fork_rng():
            return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=False).eval()
    except Exception as err:  # no network, no cached AlexNet weights
        warnings.warn(f"LPIPS is skipped: its AlexNet weights could not be loaded ({type(err).__name__}: "
                      f"{str(err)[:200]})", stacklevel=2)
        return None


def panel(lr: Tensor, bicubic: Tensor, sr: Tensor, hr: Tensor, scale: int) -> Tensor:
    """One row: LR nearest-upscaled | bicubic | SR | HR, in [0, 1]."""
    nearest = torch.nn.functional.interpolate(lr, scale_factor=scale, mode="nearest")
    row = torch.cat([nearest, bicubic, sr, hr]).clamp(-1, 1)
    return image_grid(row, nrow=4)


class SRValidation(L.Callback):
    def __init__(self, dirpath: str, every_n_g_iters: int = 500, num_panels: int = 4, lpips: bool = True) -> None:
        self.cadence = Cadence(every_n_g_iters, "callbacks.sr_validation.every_n_g_iters")
        self.dirpath, self.num_panels, self.use_lpips = Path(dirpath), num_panels, lpips
        self.lpips: torch.nn.Module | None = None
        self.baseline: dict[str, float] | None = None
        self.latest: dict[str, float] = {}

    def before_fit(self, datamodule: object, model: object) -> None:
        fix = "noise-to-sample runs take callbacks=images or callbacks=points"
        require(model, SuperResolver, "a super-resolution model (model=srresnet or model=srgan)", fix)
        require(datamodule, PairedImages, "(low-res, high-res) pair data (data=sr_folder)", fix)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.use_lpips and self.lpips is None:
            self.lpips = build_lpips()

    def on_train_start(self, trainer, pl_module) -> None:
        self.cadence.start(pl_module.g_iters)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.cadence.due(pl_module.g_iters):
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if not interrupted(trainer) and self.cadence.due_at_end(pl_module.g_iters):
            self.evaluate(trainer, pl_module)

    def score(self, out: Tensor, hr: Tensor, border: int) -> dict[str, float]:
        psnr, ssim = psnr_ssim_y(out, hr, border)
        scores = {"psnr": float(psnr.mean()), "ssim": float(ssim.mean())}
        if self.lpips is not None:
            self.lpips.to(out.device)
            scores["lpips"] = float(self.lpips(out.clamp(-1, 1), hr.clamp(-1, 1)))
        return scores

    @torch.no_grad()
    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """Scores averaged over the validation images (each image scored at its own size)."""
        self.cadence.done(pl_module.g_iters)
        pairs = trainer.datamodule.val_pairs
        names = trainer.datamodule.val_names
        scale, device = pl_module.scale, pl_module.device
        totals: dict[str, float] = {}
        baseline_totals: dict[str, float] = {}
        for i, (lr, hr) in enumerate(pairs):
            lr, hr = lr.unsqueeze(0).to(device), hr.unsqueeze(0).to(device)
            sr, bicubic = pl_module.super_resolve(lr), pl_module.bicubic(lr)
            for key, value in self.score(sr, hr, scale).items():
                totals[key] = totals.get(key, 0.0) + value / len(pairs)
            if self.baseline is None:
                for key, value in self.score(bicubic, hr, scale).items():
                    baseline_totals[key] = baseline_totals.get(key, 0.0) + value / len(pairs)
            if i < self.num_panels and trainer.is_global_zero:
                self.dirpath.mkdir(parents=True, exist_ok=True)
                path = self.dirpath / f"g{pl_module.g_iters:07d}_{names[i]}.png"
                save_image(panel(lr, bicubic, sr, hr, scale), path)
                log_image_file(trainer, f"val/panel_{names[i]}", path, pl_module)
        metrics = {f"val/{k}": v for k, v in totals.items()}
        if self.baseline is None:
            self.baseline = baseline_totals
            metrics.update({f"val/{k}_bicubic": v for k, v in baseline_totals.items()})
        metrics.update({f"val/{k}_gain": totals[k] - self.baseline[k] for k in ("psnr", "ssim")})
        self.latest = metrics
        publish(trainer, pl_module, metrics)
        if trainer.is_global_zero:
            log.info("g_iter %d: PSNR(Y) %.2f dB (bicubic %.2f), SSIM(Y) %.4f (bicubic %.4f)", pl_module.g_iters,
                     totals["psnr"], self.baseline["psnr"], totals["ssim"], self.baseline["ssim"])
        return metrics

    def state_dict(self) -> dict:
        return {"baseline": self.baseline, "last": -1 if self.cadence.last is None else self.cadence.last}

    def load_state_dict(self, state_dict: dict) -> None:
        self.baseline = state_dict.get("baseline")
        last = int(state_dict.get("last", -1))
        self.cadence.last = None if last < 0 else last
