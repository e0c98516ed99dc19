"""SRGAN's nets (Ledig et al. 2017), plain torch: the SRResNet generator and the VGG-style
discriminator. Images are in [-1, 1] on both sides (low- and high-resolution)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganforge.errors import SettingError


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus the identity (the paper's B residual blocks)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """9x9 conv + PReLU, ``num_blocks`` residual blocks, conv+BN with a long skip, one
    conv + PixelShuffle(2) + PReLU per factor of 2 of ``scale``, and a 9x9 conv to RGB.

    ``bicubic_skip`` (off in the paper) adds the bicubic upscale of the input to the output, so the
    net learns the residual; the last conv starts at zero, so an untrained net *is* bicubic. It
    exists for short runs (tests, quick checks), where the plain net needs thousands of steps
    before it even matches bicubic."""

    def __init__(self, scale: int = 4, width: int = 64, num_blocks: int = 16, channels: int = 3,
                 bicubic_skip: bool = False) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise SettingError(f"scale must be 2, 4 or 8, got {scale}")
        self.scale, self.bicubic_skip = scale, bicubic_skip
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(num_blocks)))
        self.trunk_end = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        upsample: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            upsample += [nn.Conv2d(width, width * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.upsample = nn.Sequential(*upsample)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)
        if bicubic_skip:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, lr: Tensor) -> Tensor:
        features = self.head(lr)
        out = self.tail(self.upsample(features + self.trunk_end(self.blocks(features))))
        if self.bicubic_skip:
            out = out + bicubic_upscale(lr, self.scale)
        return out


def bicubic_upscale(lr: Tensor, scale: int) -> Tensor:
    """The bicubic baseline (and ``bicubic_skip``): ``scale`` times larger, clamped to [-1, 1]."""
    h, w = lr.shape[-2:]
    return nn.functional.interpolate(lr, size=(h * scale, w * scale), mode="bicubic",
                                     align_corners=False).clamp(-1.0, 1.0)


def bicubic_downscale(hr: Tensor, scale: int) -> Tensor:
    """The low-resolution input: bicubic with antialiasing (MATLAB ``imresize``'s default, which
    the SR literature uses to make LR images), clamped to [-1, 1]. Sizes must divide by ``scale``."""
    squeeze = hr.ndim == 3
    x = hr.unsqueeze(0) if squeeze else hr
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise SettingError(f"image size {h}x{w} is not divisible by the scale {scale}")
    out = nn.functional.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True,
                                    align_corners=False).clamp(-1.0, 1.0)
    return out[0] if squeeze else out


class SRDiscriminator(nn.Module):
    """The paper's VGG-style discriminator: eight 3x3 convs (64 to 512 channels, stride 2 on
    every second, BatchNorm after the first), LeakyReLU 0.2, dense 1024, dense 1 (a logit).
    An adaptive pool to 6x6 before the dense layers (the paper's 96 px crop gives 6x6 there
    anyway) lets any crop size of at least 16 px through."""

    def __init__(self, width: int = 64, channels: int = 3, dense: int = 1024) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2)]
        in_ch = width
        for i in range(7):
            out_ch = width * 2 ** ((i + 1) // 2)
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), nn.BatchNorm2d(out_ch),
                       nn.LeakyReLU(0.2)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Linear(in_ch * 36, dense),
                                  nn.LeakyReLU(0.2), nn.Linear(dense, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(1)


class VGGFeatures(nn.Module):
    """VGG19 up to the ReLU after conv5_4 (the paper's phi_5,4), frozen, in eval mode. Inputs in
    [-1, 1] are mapped to ImageNet's normalisation. ``weights``: ``imagenet`` (torchvision's
    IMAGENET1K_V1, downloaded to the torch hub cache at first use) or None (random, for tests)."""

    LAST_LAYER = 36  # features[35] is the ReLU after conv5_4; [36] the last max-pool

    def __init__(self, weights: str | None = "imagenet") -> None:
        super().__init__()
        from torchvision.models import VGG19_Weights, vgg19

        chosen = VGG19_Weights.IMAGENET1K_V1 if weights == "imagenet" else None
        if weights not in ("imagenet", None):
            raise SettingError(f"VGG weights must be 'imagenet' or null, got {weights!r}")
        self.net = vgg19(weights=chosen).features[: self.LAST_LAYER].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always eval: no BatchNorm here, but no dropout surprises either

    def forward(self, x: Tensor) -> Tensor:
        return self.net(((x + 1.0) / 2.0 - self.mean) / self.std)
