"""Loading a trained module from a checkpoint for evaluation and sampling (no trainer)."""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning as L
import torch

from ganforge.errors import GanforgeError, config_errors
from ganforge.files import open_checkpoint
from ganforge.models.checkpoints import saved_class, saved_hparams
from ganforge.surfaces import NoiseToSamples


def load_module(path: str | Path, device: torch.device | str = "cpu") -> L.LightningModule:
    """The LightningModule saved in ``path`` (its class is recorded in the checkpoint), in eval
    mode on ``device``. Checkpoints hold plain data, so this loads with ``weights_only=True``."""
    path = Path(path).expanduser()
    checkpoint = open_checkpoint(path)
    module_name, _, class_name = saved_class(checkpoint).rpartition(".")
    if not module_name.startswith("ganforge."):
        raise GanforgeError(f"ckpt_path={path} names the class {module_name}.{class_name}, not a ganforge model")
    with config_errors(f"ckpt_path={path}"):
        cls = getattr(importlib.import_module(module_name), class_name)
        hparams = saved_hparams(checkpoint)  # in today's spelling
        # Starting weights from another checkpoint (SRGAN's generator_ckpt) are replaced by these anyway.
        if "generator_ckpt" in hparams:
            hparams["generator_ckpt"] = None
        module = cls(**hparams)
        module.on_load_checkpoint(checkpoint)  # the counters (g_iters, images_seen)
        module.load_state_dict(checkpoint["state_dict"])
    return module.to(device).eval()


def require_noise_model(module: L.LightningModule, script: str) -> None:
    """``evaluate.py`` and ``sample.py`` draw samples from noise; super-resolution models do not."""
    if not isinstance(module, NoiseToSamples):
        raise GanforgeError(f"{script} works on models that generate from noise; this checkpoint is a "
                            f"super-resolution model: upscale images with upscale.py (its PSNR/SSIM are logged "
                            "during training as val/psnr and val/ssim)")


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: the first CUDA GPU when there is one, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        raise GanforgeError(f"device={requested!r} is not a device; use auto, cpu, cuda or cuda:<index>") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanforgeError(f"device={requested} but this machine has no CUDA GPU; use device=auto or device=cpu")
    return device
