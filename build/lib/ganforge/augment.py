"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GANs trained on little data:
the same random colour, translation and cutout transforms are applied to real and generated
images before the discriminator, in both players' steps, so gradients flow through them.
Written here because no dependency of ganforge provides it (kornia would be a new, large one).
Imports only torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import SettingError


def _per_sample(x: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    return torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).uniform_(low, high)


def color(x: Tensor) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per sample."""
    x = x + (_per_sample(x) - 0.5)
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * (_per_sample(x) * 2) + mean_c
    mean_all = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_all) * (_per_sample(x) + 0.5) + mean_all


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y, filling with zeros."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    padded = F.pad(x, [1, 1, 1, 1])
    rows = (rows + 1).clamp(0, h + 1).expand(n, h, w)
    cols = (cols + 1).clamp(0, w + 1).expand(n, h, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one square of ``ratio`` of the image size at a random place per sample."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    dy, dx = rows - cy + ch // 2, cols - cx + cw // 2  # offsets inside a ch x cw window around (cy, cx)
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS: dict[str, Callable[[Tensor], Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment:
    """Applies the named transforms in order; an empty list is the identity."""

    def __init__(self, policy: Sequence[str] = ()) -> None:
        unknown = [p for p in policy if p not in AUGMENTS]
        if unknown:
            raise SettingError(f"unknown augmentation {unknown}; choose from: {', '.join(AUGMENTS)}")
        self.transforms = [AUGMENTS[p] for p in policy]

    def __bool__(self) -> bool:
        return bool(self.transforms)

    def __call__(self, x: Tensor) -> Tensor:
        if not self.transforms:
            return x
        for transform in self.transforms:
            x = transform(x)
        return x.contiguous()
