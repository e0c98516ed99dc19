"""DCGAN generator and discriminator (Radford et al. 2015) for 32, 64 and 128 px images.

Each stage doubles (G) or halves (D) the resolution with 4x4 stride-2 convolutions between
4x4 and the image size; widths double towards the 4x4 end, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from ganforge.nets.layers import (
    LabelConcat,
    LabelProjection,
    apply_spectral_norm,
    check_critic_norm,
    check_square_image,
    critic_norm,
    dcgan_init,
)

SUPPORTED_SIZES = (32, 64, 128)


def _stage_widths(size: int, base_width: int) -> list[int]:
    """Feature widths from 4x4 up to size/2, e.g. size 32, base 64 -> [256, 128, 64]."""
    stages = int(math.log2(size // 4))
    return [base_width * 2 ** (stages - 1 - i) for i in range(stages)]


class DCGANGenerator(nn.Module):
    """z (+ label embedding) -> 4x4 -> ... -> image in [-1, 1] (tanh)."""

    def __init__(
        self,
        z_dim: int,
        sample_shape: Sequence[int],
        num_classes: int = 0,
        base_width: int = 64,
        embed_dim: int = 32,
    ) -> None:
        super().__init__()
        channels, size = check_square_image(sample_shape, SUPPORTED_SIZES, "DCGAN generator")
        widths = _stage_widths(size, base_width)
        self.condition = LabelConcat(num_classes, embed_dim)
        in_dim = z_dim + self.condition.extra_dim
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.condition(z, y)
        return self.net(h[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """image -> ... -> 4x4 features -> one score (+ label projection).

    ``norm="batch"`` is the paper's; ``"none"`` and ``"layer"`` are for critics whose penalty is
    per sample (WGAN-GP forbids BatchNorm in the critic); ``spectral_norm`` normalises every layer.
    """

    def __init__(
        self,
        sample_shape: Sequence[int],
        num_classes: int = 0,
        base_width: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_critic_norm(norm, "DCGANDiscriminator")
        channels, size = check_square_image(sample_shape, SUPPORTED_SIZES, "DCGAN discriminator")
        widths = _stage_widths(size, base_width)[::-1]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for w_in, w_out in zip(widths, widths[1:]):
            layers.append(nn.Conv2d(w_in, w_out, 4, 2, 1, bias=norm != "batch"))
            if norm != "none":  # no Identity placeholder: older checkpoints keep their layer indices
                layers.append(critic_norm(norm, w_out, spatial=True))
            layers.append(nn.LeakyReLU(0.2, True))
        self.net = nn.Sequential(*layers)
        features = widths[-1] * 4 * 4
        self.head = nn.Linear(features, 1)
        self.projection = LabelProjection(num_classes, features)
        self.apply(dcgan_init)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.net(x).flatten(1)
        return self.head(h).squeeze(1) + self.projection(h, y)
