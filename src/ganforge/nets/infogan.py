"""The InfoGAN-style nets of Lucic et al. 2018 ("Are GANs Created Equal?") for 28 x 28 images
(MNIST, Fashion-MNIST), as google/compare_gan's ``architectures/infogan.py`` builds them.

G: FC 1024, FC 128 x 7 x 7, a 4x4 stride-2 transposed conv to 64 x 14 x 14, one to the image
(widths for ``base_width=64``, the paper's; they scale with it, so the DCGAN configs' key fits);
BatchNorm and leaky ReLU (slope 0.2) after every hidden layer (compare_gan's choice; the paper's
table says ReLU, ``activation="relu"`` gives that). D: 4x4 stride-2 convs to 64 x 14 x 14 and
128 x 7 x 7, FC 1024, FC 1; leaky ReLU, BatchNorm after the second conv and the first FC
(per-sample penalties forbid it: ``norm="none"`` drops it, ``norm="layer"`` puts layer norm in its
place). Weights from N(0, 0.02), biases 0.
The output is tanh in [-1, 1] where compare_gan's is a sigmoid in [0, 1]: the same up to scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ganforge.errors import SettingError
from ganforge.nets.layers import (
    LabelConcat,
    LabelProjection,
    apply_spectral_norm,
    check_critic_norm,
    check_square_image,
    critic_norm,
)

ACTIVATIONS = {"lrelu": lambda: nn.LeakyReLU(0.2, True), "relu": lambda: nn.ReLU(True)}


def lucic_init(module: nn.Module) -> None:
    """compare_gan's initialisation: every weight from N(0, 0.02), biases zero, BatchNorm at (1, 0)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise SettingError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


class InfoGANGenerator(nn.Module):
    """z (+ label embedding) -> FC 1024 -> FC 128x7x7 -> 64x14x14 -> image in [-1, 1]."""

    def __init__(self, z_dim: int, sample_shape: Sequence[int], num_classes: int = 0, base_width: int = 64,
                 activation: str = "lrelu", embed_dim: int = 32) -> None:
        super().__init__()
        channels, size = check_square_image(sample_shape, (28,), "InfoGAN generator")
        self.quarter, self.width = size // 4, 2 * base_width
        hidden, grid = 16 * base_width, self.width * self.quarter**2
        self.condition = LabelConcat(num_classes, embed_dim)
        self.fc = nn.Sequential(
            nn.Linear(z_dim + self.condition.extra_dim, hidden), nn.BatchNorm1d(hidden), _activation(activation),
            nn.Linear(hidden, grid), nn.BatchNorm1d(grid), _activation(activation))
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(self.width, base_width, 4, 2, 1), nn.BatchNorm2d(base_width), _activation(activation),
            nn.ConvTranspose2d(base_width, channels, 4, 2, 1), nn.Tanh())
        self.apply(lucic_init)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(self.condition(z, y))
        return self.deconv(h.view(-1, self.width, self.quarter, self.quarter))


class InfoGANDiscriminator(nn.Module):
    """image -> 64x14x14 -> 128x7x7 -> FC 1024 -> one score (+ label projection)."""

    def __init__(self, sample_shape: Sequence[int], num_classes: int = 0, base_width: int = 64, norm: str = "batch",
                 spectral_norm: bool = False) -> None:
        super().__init__()
        check_critic_norm(norm, "InfoGANDiscriminator")
        channels, size = check_square_image(sample_shape, (28,), "InfoGAN discriminator")
        width, hidden = 2 * base_width, 16 * base_width
        self.conv = nn.Sequential(
            nn.Conv2d(channels, base_width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(base_width, width, 4, 2, 1), critic_norm(norm, width, spatial=True),
            nn.LeakyReLU(0.2, True))
        self.fc = nn.Sequential(
            nn.Linear(width * (size // 4) ** 2, hidden), critic_norm(norm, hidden, spatial=False),
            nn.LeakyReLU(0.2, True))
        self.head = nn.Linear(hidden, 1)
        self.projection = LabelProjection(num_classes, hidden)
        self.apply(lucic_init)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(self.conv(x).flatten(1))
        return self.head(h).squeeze(1) + self.projection(h, y)
