"""Progressive growing GAN nets (Karras et al. 2018): a generator and a discriminator that work at
any stage from 4x4 up to the final resolution, blending a new stage in with ``alpha``.

Stage ``s`` works at ``4 * 2**s`` px. The paper's stabilisers are here: equalized learning rate
(weights drawn from N(0, 1) and scaled at run time by He's constant sqrt(2 / fan_in)), pixelwise
feature normalisation in the generator, and the minibatch standard-deviation layer at the end of
the discriminator. Imports only torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import SettingError


class EqualizedConv2d(nn.Module):
    """Conv whose weight is stored as N(0, 1) and multiplied by ``sqrt(gain / fan_in)`` at every
    call, so Adam's per-parameter step sizes act on all layers alike (the equalized learning rate)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 gain: float = 2.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(gain / (in_channels * kernel_size * kernel_size))
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Linear layer with the equalized learning rate (see ``EqualizedConv2d``)."""

    def __init__(self, in_features: int, out_features: int, gain: float = 2.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = math.sqrt(gain / in_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit average square (paper section 4.2)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStd(nn.Module):
    """Appends one feature map: the standard deviation of every feature at every pixel over a
    group of ``group_size`` samples, averaged to one number per group (paper section 3)."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        if n % group:  # a batch that does not split into groups: one group of all
            group = n
        y = x.view(group, -1, c, h, w)  # (group, n / group, c, h, w), as in the official code
        std = (y - y.mean(dim=0, keepdim=True)).pow(2).mean(dim=0).add(1e-8).sqrt()  # (n / group, c, h, w)
        value = std.mean(dim=(1, 2, 3))  # one number per group
        feature = value.view(-1, 1, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, feature], dim=1)


def stage_channels(stage: int, fmap_base: int, fmap_max: int) -> int:
    """Feature maps at ``stage``: ``fmap_base / 2**(stage + 1)`` capped at ``fmap_max`` (the paper's rule)."""
    return max(1, min(fmap_max, fmap_base // 2 ** (stage + 1)))


def num_stages_for(sample_shape: Sequence[int]) -> int:
    """Stages from 4x4 to the images' size; refuses sizes that are not 4 * 2**k."""
    if len(sample_shape) != 3:
        raise SettingError(f"progan needs images (channels, height, width), got samples of shape "
                            f"{tuple(sample_shape)}")
    _, height, width = (int(v) for v in sample_shape)
    if height != width or height < 4 or height & (height - 1):
        raise SettingError(f"progan grows square images of a power-of-two size (8, 16, 32, 64, 128, ...), got "
                         f"{height}x{width}; set data.resolution accordingly")
    return int(math.log2(height)) - 1


def stage_plan(sample_shape: Sequence[int], num_classes: int, fmap_base: int, fmap_max: int
               ) -> tuple[int, int, list[int]]:
    """(number of stages, image channels, feature maps per stage), shared by G and D."""
    if num_classes:
        raise SettingError("progan is unconditional; set model.conditional=false")
    stages = num_stages_for(sample_shape)
    return stages, int(sample_shape[0]), [stage_channels(s, fmap_base, fmap_max) for s in range(stages)]


def _conv_block(in_ch: int, out_ch: int, pixel_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, o in ((in_ch, out_ch), (out_ch, out_ch)):
        layers += [EqualizedConv2d(i, o, 3, padding=1), nn.LeakyReLU(0.2)]
        if pixel_norm:
            layers.append(PixelNorm())
    return nn.Sequential(*layers)


class ProGenerator(nn.Module):
    """z -> 4x4 -> ... -> the current stage's resolution; ``forward(z, labels, stage, alpha)``."""

    def __init__(self, z_dim: int, sample_shape: Sequence[int], num_classes: int = 0, fmap_base: int = 8192,
                 fmap_max: int = 512) -> None:
        super().__init__()
        self.num_stages, channels, ch = stage_plan(sample_shape, num_classes, fmap_base, fmap_max)
        self.z_dim = z_dim
        self.input = nn.Sequential(PixelNorm(), EqualizedLinear(z_dim, ch[0] * 16, gain=2.0 / 16))
        self.first = nn.Sequential(nn.LeakyReLU(0.2), PixelNorm(), EqualizedConv2d(ch[0], ch[0], 3, padding=1),
                                   nn.LeakyReLU(0.2), PixelNorm())
        self.blocks = nn.ModuleList([_conv_block(ch[s - 1], ch[s], True) for s in range(1, self.num_stages)])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, channels, 1, gain=1.0) for c in ch])

    def features(self, z: Tensor, stage: int) -> list[Tensor]:
        """Feature maps of stages ``stage - 1`` (when there is one) and ``stage``."""
        h = self.first(self.input(z).view(z.shape[0], -1, 4, 4))
        previous = h
        for s in range(1, stage + 1):
            previous = h
            h = self.blocks[s - 1](F.interpolate(h, scale_factor=2, mode="nearest"))
        return [previous, h] if stage > 0 else [h]

    def forward(self, z: Tensor, y: Tensor | None = None, stage: int | None = None, alpha: float = 1.0) -> Tensor:
        stage = self.num_stages - 1 if stage is None else stage
        feats = self.features(z, stage)
        new = self.to_rgb[stage](feats[-1])
        if stage == 0 or alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[stage - 1](feats[0]), scale_factor=2, mode="nearest")
        return torch.lerp(old, new, alpha)


class ProDiscriminator(nn.Module):
    """The current stage's images -> one score; the new stage's fromRGB + block fades in over
    the downsampled path through the previous stage's fromRGB."""

    def __init__(self, sample_shape: Sequence[int], num_classes: int = 0, fmap_base: int = 8192, fmap_max: int = 512,
                 mbstd_group: int = 4) -> None:
        super().__init__()
        self.num_stages, channels, ch = stage_plan(sample_shape, num_classes, fmap_base, fmap_max)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(channels, c, 1), nn.LeakyReLU(0.2)) for c in ch])
        # blocks[s - 1] takes stage s's maps (ch[s]) down to stage s - 1 (ch[s - 1]) at half the size
        self.blocks = nn.ModuleList([nn.Sequential(_conv_block(ch[s], ch[s - 1], False), nn.AvgPool2d(2))
                                     for s in range(1, self.num_stages)])
        self.final = nn.Sequential(MinibatchStd(mbstd_group), EqualizedConv2d(ch[0] + 1, ch[0], 3, padding=1),
                                   nn.LeakyReLU(0.2), nn.Flatten(), EqualizedLinear(ch[0] * 16, ch[0]),
                                   nn.LeakyReLU(0.2), EqualizedLinear(ch[0], 1, gain=1.0))

    def forward(self, x: Tensor, y: Tensor | None = None, stage: int | None = None, alpha: float = 1.0) -> Tensor:
        stage = self.num_stages - 1 if stage is None else stage
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage - 1](h)
            if alpha < 1.0:
                h = torch.lerp(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)), h, alpha)
        for s in range(stage - 1, 0, -1):
            h = self.blocks[s - 1](h)
        return self.final(h).squeeze(1)
