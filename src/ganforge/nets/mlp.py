"""Fully connected generator and discriminator (Goodfellow et al. 2014) for flattened images
or low-dimensional points (the 2-D mode-collapse benchmarks)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import Tensor, nn

from ganforge.errors import SettingError
from ganforge.nets.layers import LabelConcat, LabelProjection, apply_spectral_norm, gaussian_init


class Maxout(nn.Module):
    """Linear layer with ``pieces`` outputs per unit, keeping the largest (Goodfellow et al. 2013);
    the discriminator units of the PacGAN/VEEGAN 2-D setup."""

    def __init__(self, in_dim: int, width: int, pieces: int) -> None:
        super().__init__()
        self.width, self.pieces = width, pieces
        self.linear = nn.Linear(in_dim, width * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.width, self.pieces).amax(dim=2)


def _stack(in_dim: int, hidden: Sequence[int],
           unit: Callable[[int, int], list[nn.Module]]) -> tuple[nn.Sequential, int]:
    """One ``unit(in_dim, width)`` per hidden width, chained; returns the stack and its output width."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += unit(in_dim, width)
        in_dim = width
    return nn.Sequential(*layers), in_dim


class MLPGenerator(nn.Module):
    """z (+ label embedding) -> hidden ReLU layers -> sample of ``sample_shape``.

    ``output="auto"`` puts a tanh on images (3-D shapes, data in [-1, 1]) and nothing on points.
    ``batch_norm`` adds BatchNorm before each ReLU (the PacGAN 2-D generator). ``init_std``: weights
    from N(0, init_std) and zero biases instead of PyTorch's defaults (the PacGAN code uses 0.02).
    """

    def __init__(
        self,
        z_dim: int,
        sample_shape: Sequence[int],
        num_classes: int = 0,
        hidden: Sequence[int] = (256, 512, 1024),
        embed_dim: int = 32,
        output: str = "auto",
        batch_norm: bool = False,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        if output not in ("auto", "tanh", "linear"):
            raise SettingError(f"MLPGenerator output must be auto, tanh or linear, got {output!r}")
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.condition = LabelConcat(num_classes, embed_dim)
        def unit(in_dim: int, width: int) -> list[nn.Module]:
            return [nn.Linear(in_dim, width), *([nn.BatchNorm1d(width)] if batch_norm else []), nn.ReLU()]

        self.body, width = _stack(z_dim + self.condition.extra_dim, hidden, unit)
        self.head = nn.Linear(width, math.prod(self.sample_shape))
        use_tanh = output == "tanh" or (output == "auto" and len(self.sample_shape) == 3)
        self.out = nn.Tanh() if use_tanh else nn.Identity()
        if init_std is not None:
            self.apply(gaussian_init(init_std))

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.body(self.condition(z, y))
        return self.out(self.head(h)).view(z.shape[0], *self.sample_shape)


class MLPDiscriminator(nn.Module):
    """Flattened sample -> hidden LeakyReLU(0.2) layers -> one score (+ label projection);
    ``spectral_norm`` normalises every layer (SNGAN-style critics on 2-D data); ``maxout`` > 1
    makes the hidden layers maxout units with that many pieces (the PacGAN 2-D discriminator);
    ``init_std`` as for the generator."""

    def __init__(
        self,
        sample_shape: Sequence[int],
        num_classes: int = 0,
        hidden: Sequence[int] = (1024, 512, 256),
        spectral_norm: bool = False,
        maxout: int = 1,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        if maxout < 1:
            raise SettingError(f"MLPDiscriminator maxout must be at least 1 (1: LeakyReLU units), got {maxout}")
        if maxout > 1:
            self.body, width = _stack(math.prod(sample_shape), hidden, lambda i, w: [Maxout(i, w, maxout)])
        else:
            self.body, width = _stack(math.prod(sample_shape), hidden,
                                      lambda i, w: [nn.Linear(i, w), nn.LeakyReLU(0.2)])
        self.head = nn.Linear(width, 1)
        self.projection = LabelProjection(num_classes, width)
        if init_std is not None:
            self.apply(gaussian_init(init_std))
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.body(x.flatten(1))
        return self.head(h).squeeze(1) + self.projection(h, y)
