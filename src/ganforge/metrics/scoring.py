"""Scoring a generator against real images: the reference statistics, the metric settings and
one entry point, ``score_generator``, used by the training callback and by ``evaluate.py``
alike (stylegan2-ada's ``calc_metric`` plays this part there). Knows nothing of Lightning."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganforge.errors import GanforgeError
from ganforge.metrics.classes import ClassAccuracySettings, ClassJudge, judge_for
from ganforge.metrics.features import WeightsUnavailableError
from ganforge.metrics.images import ImageMetrics, generated_features, real_features
from ganforge.reporting import counting


@dataclass(frozen=True)
class ScoringSettings:
    """The ``metrics`` config as typed, checked values; counts and batch size left null (None)
    take the default of the device they run on."""

    num_samples: int | None = None
    num_real: int | None = None
    batch_size: int | None = None
    real_split: str = "auto"
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    cache_dir: str = ".cache/real_stats"

    @classmethod
    def from_config(cls, cfg: DictConfig | dict) -> ScoringSettings:
        """Read once; a count below 2 or a batch size below 1 is one line naming its key."""
        get = cfg.get
        settings = cls(num_samples=optional_int(get("num_samples")), num_real=optional_int(get("num_real")),
                       batch_size=optional_int(get("batch_size")), real_split=str(get("real_split", "auto")),
                       kid_subsets=int(get("kid_subsets", 100)), kid_subset_size=int(get("kid_subset_size", 1000)),
                       pr_k=int(get("pr_k", 3)), cache_dir=str(get("cache_dir", cls.cache_dir)))
        for key in ("num_samples", "num_real"):
            value = getattr(settings, key)
            if value is not None and value < 2:
                raise GanforgeError(f"metrics.{key} must be at least 2 (or null for the device's default), got {value}")
        if settings.batch_size is not None and settings.batch_size < 1:
            raise GanforgeError(f"metrics.batch_size must be at least 1 (or null for the device's default), got "
                                f"{settings.batch_size}")
        return settings

    def samples_on(self, device: torch.device | str) -> int:
        """Generated images per evaluation; null: 10,000 on a GPU, 250 on a CPU."""
        return self.num_samples or (10_000 if torch.device(device).type == "cuda" else 250)

    def reals_on(self, device: torch.device | str) -> int:
        """Real images behind the statistics; null: 10,000 on a GPU, 500 on a CPU."""
        return self.num_real or (10_000 if torch.device(device).type == "cuda" else 500)

    def batch_on(self, device: torch.device | str) -> int:
        """Images generated and scored per batch; null: 200 on a GPU, 50 on a CPU."""
        return self.batch_size or (200 if torch.device(device).type == "cuda" else 50)


def optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def batch_size_for(cfg: DictConfig | dict, device: torch.device | str) -> int:
    """``metrics.batch_size`` on ``device`` (null: the device's default)."""
    return ScoringSettings.from_config(cfg).batch_on(device)


def metrics_against(real: torch.Tensor, settings: ScoringSettings | DictConfig | dict) -> ImageMetrics:
    """``ImageMetrics`` for these real features with the KID and precision/recall settings."""
    if not isinstance(settings, ScoringSettings):
        settings = ScoringSettings.from_config(settings)
    return ImageMetrics(real, kid_subsets=settings.kid_subsets, kid_subset_size=settings.kid_subset_size,
                        pr_k=settings.pr_k)


def reference_features(dm: Any, split: str, settings: ScoringSettings, extractor: torch.nn.Module,
                       device: torch.device) -> tuple[torch.Tensor, str, int]:
    """Features of ``num_real`` real images of ``split`` (at most the split's size), read from the
    cache when there; also their key and count."""
    images = dm.reference_images(split)
    count = min(settings.reals_on(device), len(images))
    key = dm.reference_key(split)
    with counting(count, f"real statistics ({key})") as advance:
        features = real_features(images, key, count, extractor, settings.cache_dir, settings.batch_on(device), device,
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


def sample_features(sample: Callable[[int], torch.Tensor], count: int, extractor: torch.nn.Module,
                    batch_size: int, device: torch.device | str, progress: Callable[[int], None] | None = None,
                    precision: str = "32-true") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features (and logits) of ``count`` samples generated under ``precision``, batch by batch."""
    def sample_at_precision(n: int) -> torch.Tensor:
        with generation_precision(precision, device):
            return sample(n).float()

    return generated_features(sample_at_precision, count, extractor, batch_size, device, progress)


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
    feats, logits = sample_features(sample, count, extractor, batch_size, device, progress, precision)
    if gather is not None:
        feats = gather(feats)
        logits = gather(logits) if logits is not None else None
    return reference.compute(feats, logits)


def finite_or_none(scores: dict[str, float]) -> dict[str, Any]:
    return {k: (v if math.isfinite(v) else None) for k, v in scores.items()}


class Scorer:
    """Scoring as both the training callback and ``evaluate.py`` do it, set up once from the
    ``metrics`` config: the settings read and checked (``ScoringSettings``: a bad count or batch size
    stops a run before any work), the extractor built (its weights loaded), then ``split`` ->
    ``reference`` -> ``score``."""

    def __init__(self, metrics: DictConfig | dict, required: bool | None = None) -> None:
        cfg = OmegaConf.create(metrics) if isinstance(metrics, dict) else metrics
        self.settings = ScoringSettings.from_config(cfg)
        self.class_settings = ClassAccuracySettings.from_config(cfg.get("class_accuracy"))
        self.extractor = build_extractor(cfg if required is None else OmegaConf.merge(cfg, {"required": required}))

    @property
    def enabled(self) -> bool:
        """False when the extractor's weights are missing and ``metrics.required`` is false."""
        return self.extractor is not None

    def num_samples(self, device: torch.device | str) -> int:
        return self.settings.samples_on(device)

    def split(self, datamodule: Any) -> str:
        """The reference split for this data (``auto``: test where there is one), checked."""
        split = resolve_split(self.settings.real_split, tuple(datamodule.reference_splits))
        datamodule.check_reference_split(split)
        return split

    def reference(self, datamodule: Any, split: str, device: torch.device) -> tuple[ImageMetrics, str, int]:
        """The metrics against the real images of ``split`` (cached features), with their key and count."""
        assert self.extractor is not None
        features, key, count = reference_features(datamodule, split, self.settings, self.extractor, device)
        return metrics_against(features, self.settings), key, count

    def score(self, sample: Callable[[int], torch.Tensor], count: int, reference: ImageMetrics,
              device: torch.device | str, progress: Callable[[int], None] | None = None,
              gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
              precision: str = "32-true") -> dict[str, float]:
        assert self.extractor is not None
        return score_generator(sample, count, reference, self.extractor, self.settings.batch_on(device), device,
                               progress, gather, precision)

    # ---- class accuracy (conditional models on labelled data) --------------------------------
    def judges(self, datamodule: Any, conditional: bool, what: str | None = None) -> bool:
        """Whether class accuracy is measured for this model and data (``metrics.class_accuracy``;
        ``datamodule`` None: the reference is not a data set, ``what`` names it); ``enabled=true``
        where it cannot apply stops here, before any work."""
        from ganforge.surfaces import ImagesWithLabels

        return self.class_settings.applies(conditional, int(getattr(datamodule, "num_classes", 0)),
                                           isinstance(datamodule, ImagesWithLabels),
                                           what or type(datamodule).__name__)

    def judge(self, datamodule: Any, device: torch.device) -> ClassJudge:
        """The data set's classifier: from the cache, or trained now (bf16 where the device runs it natively)."""
        from ganforge.config import auto_precision

        device = torch.device(device)
        return judge_for(datamodule, self.class_settings, device, auto_precision(device.type) == "bf16-mixed")

    def class_scores(self, judge: ClassJudge, sample_classes: Callable[[torch.Tensor], torch.Tensor],
                     device: torch.device | str, precision: str = "32-true") -> dict[str, float]:
        """``class_accuracy`` of ``per_class`` samples per class (null: num_samples / classes),
        generated under the training ``precision``, and the classifier's held-out real accuracy."""
        per_class = self.class_settings.per_class or max(1, self.num_samples(device) // judge.num_classes)

        def generate(labels: torch.Tensor) -> torch.Tensor:
            with generation_precision(precision, device):
                return sample_classes(labels).float()

        return judge.score(generate, per_class)
