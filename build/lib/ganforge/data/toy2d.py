"""2-D Gaussian mixtures, the classic mode-collapse benchmark.

Setup of PacGAN (Lin et al. 2018), which follows VEEGAN (Srivastava et al. 2017):
- ``ring8``: 8 Gaussians, means (cos(2*pi*k/8), sin(2*pi*k/8)) for k = 0..7, std 0.01
  (variance 1e-4). The angles are 2*pi*k/8, not ``linspace(0, 2*pi, 8)``, which repeats the
  first mode and gives only 7 distinct ones.
- ``grid25``: 25 Gaussians, means (-4 + 2i, -4 + 2j) for i, j = 0..4, std 0.05 (variance 0.0025).
Training set: 100,000 points drawn once with a fixed seed; labels are the mode index.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganforge.data.base import InMemoryDataModule
from ganforge.errors import GanforgeError


def mixture_means(kind: str) -> tuple[Tensor, float]:
    """Mode centres (K, 2) and the per-mode standard deviation of a named mixture."""
    if kind == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([angles.cos(), angles.sin()], 1).float(), 0.01
    if kind == "grid25":
        axis = torch.arange(5, dtype=torch.float32) * 2 - 4
        return torch.cartesian_prod(axis, axis), 0.05
    raise GanforgeError(f"unknown 2-D mixture {kind!r}; choose ring8 or grid25")


def sample_mixture(kind: str, n: int, seed: int = 0, std: float | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points and their mode index, equal weight per mode."""
    means, default_std = mixture_means(kind)
    generator = torch.Generator().manual_seed(seed)
    modes = torch.randint(len(means), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator) * (default_std if std is None else std)
    return means[modes] + noise, modes


class Toy2DDataModule(InMemoryDataModule):
    """Points of a 2-D mixture; ``num_classes`` is 0 by default (set it to the mode count to
    train conditional models on the mode index)."""

    def __init__(
        self, kind: str, num_points: int = 100_000, batch_size: int = 512, std: float | None = None,
        num_classes: int = 0, seed: int = 0,
    ) -> None:
        means, default_std = mixture_means(kind)
        if num_classes not in (0, len(means)):
            raise GanforgeError(f"{kind} has {len(means)} modes: data.num_classes must be 0 or {len(means)}")
        super().__init__((2,), num_classes, batch_size, seed)
        self.kind, self.num_points, self.std = kind, num_points, std
        self.mixture_means = means  # read by the mode-coverage callback
        self.mixture_std = default_std if std is None else std

    @staticmethod
    def to_sample(stored: Tensor) -> Tensor:
        return stored

    def load(self) -> tuple[Tensor, Tensor]:
        return sample_mixture(self.kind, self.num_points, self.seed, self.std)
