"""Mode-collapse metrics for Gaussian mixtures (PacGAN, Lin et al. 2018, section 4.1).

Each generated point is assigned to its nearest mode centre. It is *high quality* when it lies
within ``threshold`` standard deviations of that centre. A mode is *captured* when at least one
high-quality point is assigned to it. The reverse KL is KL(p_gen || p_true) between the
histogram of nearest-mode assignments of all points and the uniform true distribution over the
K modes (empty bins contribute 0).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganforge.errors import SettingError


def mode_metrics(points: Tensor, means: Tensor, std: float, threshold: float = 3.0) -> dict[str, float]:
    """``modes`` (captured count), ``hq_ratio`` (share of high-quality points) and ``reverse_kl``."""
    points, means = points.detach().float().cpu(), means.float().cpu()
    if points.ndim != 2 or points.shape[1] != means.shape[1] or len(points) == 0:
        raise SettingError(f"points must be (N, {means.shape[1]}) with N > 0, got {tuple(points.shape)}")
    dist = torch.cdist(points, means)
    nearest_dist, nearest = dist.min(dim=1)
    high_quality = nearest_dist <= threshold * std
    k = len(means)
    captured = torch.bincount(nearest[high_quality], minlength=k) > 0
    hist = torch.bincount(nearest, minlength=k).double() / len(points)
    nonzero = hist > 0
    reverse_kl = float((hist[nonzero] * (hist[nonzero] * k).log()).sum())
    return {"modes": float(captured.sum()), "hq_ratio": float(high_quality.float().mean()),
            "reverse_kl": max(reverse_kl, 0.0) if math.isfinite(reverse_kl) else float("inf")}
