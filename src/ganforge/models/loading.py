"""Loading a trained module from a checkpoint for evaluation and sampling (no trainer)."""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning as L
import torch

from ganforge.errors import GanforgeError


def load_module(path: str | Path, device: torch.device | str = "cpu") -> L.LightningModule:
    """The LightningModule saved in ``path`` (its class is recorded in the checkpoint), in eval
    mode on ``device``. Checkpoints hold plain data, so this loads with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"ckpt_path={path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a checkpoint, pickled objects
        raise GanforgeError(f"ckpt_path={path} is not a readable ganforge checkpoint ({err})") from err
    if "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise GanforgeError(f"ckpt_path={path} is not a Lightning checkpoint of a ganforge model")
    module_name, _, class_name = checkpoint.get("ganforge_class", "ganforge.models.gan.GAN").rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    # Starting weights from another checkpoint (SRGAN's generator_ckpt) are replaced by these anyway.
    overrides = {"generator_ckpt": None} if "generator_ckpt" in checkpoint["hyper_parameters"] else {}
    module = cls.load_from_checkpoint(path, map_location=device, weights_only=True, **overrides)
    return module.eval()  # on_load_checkpoint restored the counters (g_iters, images_seen)


def require_noise_model(module: L.LightningModule, script: str) -> None:
    """``evaluate.py`` and ``sample.py`` draw samples from noise; super-resolution models do not."""
    if getattr(module, "learns_from_pairs", False):
        raise GanforgeError(f"{script} works on models that generate from noise; this checkpoint is a "
                            f"super-resolution model: upscale images with upscale.py (its PSNR/SSIM are logged "
                            "during training as val/psnr and val/ssim)")


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: the first CUDA GPU when there is one, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
