"""Super-resolution metrics by the SRGAN protocol: PSNR and SSIM on the luminance (Y) channel of
8-bit images, with ``scale`` pixels shaved off every border. The PSNR/SSIM arithmetic is
torchmetrics'; the Y conversion is written here because neither torchmetrics nor torchvision
has the ITU-R BT.601 studio-swing transform (MATLAB's ``rgb2ycbcr``) that published numbers use."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from ganforge.errors import SettingError

BT601_Y = (65.481, 128.553, 24.966)  # RGB in [0, 1] -> Y in [16, 235]


def to_8bit_levels(x: Tensor) -> Tensor:
    """[-1, 1] -> float RGB in [0, 1] rounded to the 256 levels of the image file one would save."""
    return ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round() / 255.0


def rgb_to_y(x: Tensor) -> Tensor:
    """Images in [-1, 1], (N, 3, H, W) or (N, 1, H, W) -> (N, 1, H, W) Y in [16, 235] (grey: the
    image itself on the same scale)."""
    rgb = to_8bit_levels(x)
    if rgb.shape[1] == 1:
        rgb = rgb.expand(-1, 3, -1, -1)
    weights = torch.tensor(BT601_Y, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return 16.0 + (rgb * weights).sum(dim=1, keepdim=True)


def shave(x: Tensor, border: int) -> Tensor:
    return x[..., border:-border, border:-border] if border > 0 else x


def psnr_ssim_y(sr: Tensor, hr: Tensor, border: int) -> tuple[Tensor, Tensor]:
    """Per-image PSNR (dB) and SSIM on Y, borders shaved; sr and hr in [-1, 1], same shape."""
    if sr.shape != hr.shape:
        raise SettingError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
    y_sr, y_hr = shave(rgb_to_y(sr.float()), border), shave(rgb_to_y(hr.float()), border)
    psnr = peak_signal_noise_ratio(y_sr, y_hr, data_range=255.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(y_sr, y_hr, data_range=255.0, reduction="none")
    return psnr, ssim
