"""ResNet generator and discriminator of SNGAN (Miyato et al. 2018, CIFAR-10 appendix) for 32
and 64 px: G = linear to 4x4 then up-sampling residual blocks; D = residual blocks down to 8x8,
two more at 8x8, ReLU, global sum pooling, linear (+ label projection), spectral norm on every
layer of D by default."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.nets.layers import LabelConcat, LabelProjection, apply_spectral_norm, check_square_image

SUPPORTED_SIZES = (32, 64)


class UpBlock(nn.Module):
    """BN-ReLU-up-conv3-BN-ReLU-conv3, plus an up-sampled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """(ReLU-)conv3-ReLU-conv3(-avgpool), plus a 1x1 (-avgpool) shortcut. ``first`` is the
    optimised block that sees the image: no ReLU before its first conv, pool then shortcut."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (c_in != c_out or down) else None
        self.down, self.first = down, first

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = self.conv2(F.relu(h))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetGenerator(nn.Module):
    def __init__(
        self, z_dim: int, sample_shape: Sequence[int], num_classes: int = 0, width: int = 256, embed_dim: int = 32,
    ) -> None:
        super().__init__()
        channels, size = check_square_image(sample_shape, SUPPORTED_SIZES, "ResNet (SNGAN) generator")
        self.width = width
        self.condition = LabelConcat(num_classes, embed_dim)
        self.fc = nn.Linear(z_dim + self.condition.extra_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*[UpBlock(width, width) for _ in range(int(math.log2(size // 4)))])
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(self.condition(z, y)).view(z.shape[0], self.width, 4, 4)
        return self.out(self.blocks(h))


class ResNetDiscriminator(nn.Module):
    def __init__(
        self, sample_shape: Sequence[int], num_classes: int = 0, width: int = 128, spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        channels, size = check_square_image(sample_shape, SUPPORTED_SIZES, "ResNet (SNGAN) discriminator")
        downs = int(math.log2(size // 8))  # down to 8x8, then two blocks at 8x8
        blocks = [DownBlock(channels, width, down=True, first=True)]
        blocks += [DownBlock(width, width, down=True) for _ in range(downs - 1)]
        blocks += [DownBlock(width, width, down=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 1)
        self.projection = LabelProjection(num_classes, width)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.head(h).squeeze(1) + self.projection(h, y)
