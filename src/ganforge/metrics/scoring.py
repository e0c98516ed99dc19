"""Scoring a generator against real images: the reference statistics, the metric settings and
one entry point, ``score_generator``, used by the training callback and by ``evaluate.py``
alike (stylegan2-ada's ``calc_metric`` plays this part there). Knows nothing of Lightning."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganforge.errors import GanforgeError
from ganforge.metrics.features import WeightsUnavailableError
from ganforge.metrics.images import ImageMetrics, generated_features, real_features
from ganforge.reporting import counting


def auto_count(cfg: DictConfig, key: str, on_gpu: int, on_cpu: int, device: torch.device) -> int:
    """``metrics.<key>``, or the device's default when null."""
    value = cfg[key]
    if value is None:
        return on_gpu if device.type == "cuda" else on_cpu
    if int(value) < 2:
        raise GanforgeError(f"metrics.{key} must be at least 2 (or null for the device's default), got {value}")
    return int(value)


def sample_count(cfg: DictConfig, device: torch.device) -> int:
    """``metrics.num_samples``; null: 10,000 on a GPU, 250 on a CPU."""
    return auto_count(cfg, "num_samples", 10_000, 250, device)


def real_count(cfg: DictConfig, device: torch.device) -> int:
    """``metrics.num_real``; null: 10,000 on a GPU, 500 on a CPU."""
    return auto_count(cfg, "num_real", 10_000, 500, device)


def metrics_against(real: torch.Tensor, cfg: DictConfig) -> ImageMetrics:
    """``ImageMetrics`` for these real features with the KID and precision/recall settings of ``cfg``."""
    return ImageMetrics(real, kid_subsets=cfg.kid_subsets, kid_subset_size=cfg.kid_subset_size, pr_k=cfg.pr_k)


def reference_features(dm: Any, split: str, cfg: DictConfig, extractor: torch.nn.Module,
                       device: torch.device) -> tuple[torch.Tensor, str, int]:
    """Features of ``metrics.num_real`` real images of ``split`` (at most the split's size), read
    from the cache when there; also their key and count."""
    images = dm.reference_images(split)
    count = min(real_count(cfg, device), len(images))
    key = dm.reference_key(split)
    with counting(count, f"real statistics ({key})") as advance:
        features = real_features(images, key, count, extractor, cfg.cache_dir, batch_size_for(cfg, device), device,
                                 advance)
    return features, key, count


def build_extractor(metrics_cfg: DictConfig | dict) -> torch.nn.Module | None:
    """The configured feature extractor, or None (with one warning) when its weights are missing
    and ``metrics.required`` is false; a ``GanforgeError`` when they are required."""
    cfg = OmegaConf.create(metrics_cfg) if isinstance(metrics_cfg, dict) else metrics_cfg
    try:
        with torch.random.fork_rng():  # building a network draws initial weights: keep the run's RNG as it is
            return instantiate(cfg.extractor)
    except Exception as err:  # instantiate wraps the constructor's error
        cause = err
        while cause.__cause__ is not None and not isinstance(cause, WeightsUnavailableError):
            cause = cause.__cause__
        if not isinstance(cause, WeightsUnavailableError):
            raise GanforgeError(f"metrics.extractor: {cause}") from err
        if cfg.get("required"):
            raise GanforgeError(f"{cause} (metrics.required=true)") from None
        warnings.warn(f"image metrics (FID, KID, precision/recall, IS) are skipped: {cause}. "
                      "Set metrics.required=true to stop instead.", stacklevel=2)
        return None


def resolve_split(requested: str, offered: tuple[str, ...]) -> str:
    """``auto``: the held-out test split where the set has one (the literature's protocol)."""
    if requested == "auto":
        return "test" if "test" in offered else "train"
    return requested


def generation_precision(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The autocast region in which a model trained under Lightning's ``precision`` generates
    (bf16-mixed: bf16 autocast; 16-mixed: fp16 autocast; anything else: none)."""
    device_type = torch.device(device).type
    if precision in ("bf16-mixed", "bf16"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision in ("16-mixed", "16") and device_type == "cuda":
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


def batch_size_for(cfg: DictConfig, device: torch.device | str) -> int:
    """``metrics.batch_size``; null: 200 on a GPU, 50 on a CPU (generation and features per batch)."""
    value = cfg.get("batch_size")
    if value is None:
        return 200 if torch.device(device).type == "cuda" else 50
    if int(value) < 1:
        raise GanforgeError(f"metrics.batch_size must be at least 1 (or null for the device's default), got {value}")
    return int(value)


def score_generator(sample: Callable[[int], torch.Tensor], count: int, reference: ImageMetrics,
                    extractor: torch.nn.Module, batch_size: int, device: torch.device | str,
                    progress: Callable[[int], None] | None = None,
                    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    precision: str = "32-true") -> dict[str, float]:
    """FID, KID, precision/recall (and IS where the extractor has logits) of ``count`` samples
    drawn batch by batch from ``sample(n)`` (images in [-1, 1]) against ``reference``. Samples are
    generated under the training ``precision`` and only their features are kept; the features are
    always fp32. Under DDP each rank passes its share as ``count`` and ``gather`` joins the ranks'
    features."""
    def sample_at_precision(n: int) -> torch.Tensor:
        with generation_precision(precision, device):
            return sample(n).float()

    feats, logits = generated_features(sample_at_precision, count, extractor, batch_size, device, progress)
    if gather is not None:
        feats = gather(feats)
        logits = gather(logits) if logits is not None else None
    return reference.compute(feats, logits)


def finite_or_none(scores: dict[str, float]) -> dict[str, Any]:
    return {k: (v if math.isfinite(v) else None) for k, v in scores.items()}


class Scorer:
    """Scoring as both the training callback and ``evaluate.py`` do it, set up once from the
    ``metrics`` config: the settings read and checked here (a bad count or batch size stops a run
    before any work), the extractor built (its weights loaded), then ``split`` -> ``reference`` ->
    ``score``. Counts and batch sizes left null take the default of the device they run on."""

    def __init__(self, metrics: DictConfig | dict, required: bool | None = None) -> None:
        cfg = OmegaConf.create(metrics) if isinstance(metrics, dict) else metrics
        if required is not None:
            cfg = OmegaConf.merge(cfg, {"required": required})
        cpu = torch.device("cpu")
        sample_count(cfg, cpu), real_count(cfg, cpu), batch_size_for(cfg, cpu)  # refused here when out of range
        self.cfg = cfg
        self.requested_split = str(cfg.real_split)
        self.extractor = build_extractor(cfg)

    @property
    def enabled(self) -> bool:
        """False when the extractor's weights are missing and ``metrics.required`` is false."""
        return self.extractor is not None

    def num_samples(self, device: torch.device | str) -> int:
        return sample_count(self.cfg, torch.device(device))

    def batch_size(self, device: torch.device | str) -> int:
        return batch_size_for(self.cfg, device)

    def split(self, datamodule: Any) -> str:
        """The reference split for this data (``auto``: test where there is one), checked."""
        split = resolve_split(self.requested_split, tuple(datamodule.reference_splits))
        datamodule.check_reference_split(split)
        return split

    def reference(self, datamodule: Any, split: str, device: torch.device) -> tuple[ImageMetrics, str, int]:
        """The metrics against the real images of ``split`` (cached features), with their key and count."""
        assert self.extractor is not None
        features, key, count = reference_features(datamodule, split, self.cfg, self.extractor, device)
        return metrics_against(features, self.cfg), key, count

    def score(self, sample: Callable[[int], torch.Tensor], count: int, reference: ImageMetrics,
              device: torch.device | str, progress: Callable[[int], None] | None = None,
              gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
              precision: str = "32-true") -> dict[str, float]:
        assert self.extractor is not None
        return score_generator(sample, count, reference, self.extractor, self.batch_size(device), device, progress,
                               gather, precision)
