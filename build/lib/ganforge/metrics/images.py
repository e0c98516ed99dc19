"""FID, KID, Inception Score and improved precision/recall from one pass of a feature extractor.

The arithmetic is the libraries': torchmetrics' ``FrechetInceptionDistance``,
``KernelInceptionDistance`` and ``InceptionScore`` (fed precomputed features through an identity
"extractor", so the network runs once for all four metrics instead of once per metric) and
torch-fidelity's precision/recall (Kynkäänniemi et al. 2019). Real features are computed once
per (dataset, split, resolution, count, extractor) and cached on disk.

Knows nothing of training: callers pass images or features and get a dict of floats.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch_fidelity.metric_prc import calculate_precision_recall_part
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from ganforge.errors import SettingError
from ganforge.files import torch_save_atomic

log = logging.getLogger(__name__)


class Precomputed(nn.Module):
    """Identity "feature extractor" for torchmetrics' image metrics fed with features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


@torch.no_grad()
def extract(extractor: nn.Module, batches: Iterable[Tensor], device: torch.device | str = "cpu",
            progress: Callable[[int], None] | None = None) -> tuple[Tensor, Tensor | None]:
    """Features (and logits, when the extractor has them) of every batch, on the CPU in float32.
    Runs in fp32 even inside an autocast region: the metrics are defined on fp32 features."""
    feats: list[Tensor] = []
    logits: list[Tensor] = []
    device = torch.device(device)
    with torch.autocast(device.type, enabled=False):
        for batch in batches:
            f, lg = extractor(batch.to(device))
            feats.append(f.float().cpu())
            if lg is not None:
                logits.append(lg.float().cpu())
            if progress is not None:
                progress(len(batch))
    return torch.cat(feats), (torch.cat(logits) if logits else None)


class ImageMetrics:
    """Scores generated features against fixed real features.

    ``kid_subset_size`` is capped by the number of samples on either side; ``pr_k`` is the
    neighbourhood size of precision/recall (3 in the paper)."""

    def __init__(self, real_features: Tensor, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 pr_k: int = 3) -> None:
        if real_features.ndim != 2 or len(real_features) < 2:
            raise SettingError(f"need at least 2 real feature vectors, got shape {tuple(real_features.shape)}")
        self.real = real_features.float()
        self.kid_subsets, self.kid_subset_size, self.pr_k = kid_subsets, kid_subset_size, pr_k
        identity = Precomputed(self.real.shape[1])
        self.fid = FrechetInceptionDistance(feature=identity, reset_real_features=False, sync_on_compute=False)
        self.fid.update(self.real, real=True)
        self._warned_is = False

    def compute(self, fake_features: Tensor, fake_logits: Tensor | None = None,
                which: Iterable[str] = ("fid", "kid", "pr", "is")) -> dict[str, float]:
        """``fid``, ``kid`` (and ``kid_std``), ``precision``, ``recall`` and, with logits, ``is``
        (and ``is_std``); ``which`` limits the work to some of fid, kid, pr, is."""
        which = set(which)
        fake = fake_features.float().cpu()
        if fake.ndim != 2 or fake.shape[1] != self.real.shape[1] or len(fake) < 2:
            raise SettingError(f"fake features must be (N >= 2, {self.real.shape[1]}), got {tuple(fake.shape)}")
        out: dict[str, float] = {}
        if "fid" in which:
            self.fid.reset()  # keeps the real statistics
            self.fid.update(fake, real=False)
            out["fid"] = float(self.fid.compute())
        if "kid" in which:
            out.update(self._kid(fake))
        if "pr" in which:
            k = min(self.pr_k, len(fake) - 1, len(self.real) - 1)
            precision, recall = calculate_precision_recall_part(fake, self.real, neighborhood=k)
            out.update(precision=float(precision), recall=float(recall))
        if "is" in which:
            out.update(self._inception_score(fake_logits))
        return out

    def _kid(self, fake: Tensor) -> dict[str, float]:
        subset = min(self.kid_subset_size, len(fake), len(self.real))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchmetrics' "saves all features in buffer" note
            kid = KernelInceptionDistance(feature=Precomputed(fake.shape[1]), subsets=self.kid_subsets,
                                          subset_size=subset, sync_on_compute=False)
        kid.update(self.real, real=True)
        kid.update(fake, real=False)
        with torch.random.fork_rng():  # KID draws random subsets: same answer for the same features
            torch.manual_seed(0)
            kid_mean, kid_std = kid.compute()
        return {"kid": float(kid_mean), "kid_std": float(kid_std)}

    def _inception_score(self, logits: Tensor | None) -> dict[str, float]:
        if logits is None or not bool(torch.isfinite(logits).all()):
            if not self._warned_is:
                self._warned_is = True
                warnings.warn("Inception Score skipped: the feature extractor has no classification logits "
                              "(the offline FID weights carry none)", stacklevel=3)
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchmetrics' "saves all features in buffer" note
            inception_score = InceptionScore(feature=Precomputed(logits.shape[1]), splits=10, sync_on_compute=False)
        inception_score.update(logits.float().cpu())
        with torch.random.fork_rng():
            torch.manual_seed(0)
            is_mean, is_std = inception_score.compute()
        return {"is": float(is_mean), "is_std": float(is_std)}


def real_stats_path(cache_dir: str | Path, dataset_key: str, count: int, extractor_name: str) -> Path:
    """Cache file for real features, keyed by dataset (with split, resolution, channels), the
    number of images and the feature extractor."""
    key = f"{dataset_key}|n={count}|{extractor_name}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset_key)
    return Path(cache_dir) / f"{safe}-n{count}-{extractor_name}-{digest}.pt"


def load_real_features(path: Path) -> Tensor | None:
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)["features"]
    except Exception as err:  # noqa: BLE001 - any unreadable cache is recomputed, never trusted
        log.warning("ignoring unreadable real-statistics cache %s (%s); recomputing", path, err)
        return None


def save_real_features(path: Path, features: Tensor, meta: dict) -> None:
    """Atomic write (temporary file, then rename) so a crash never leaves half a cache."""
    torch_save_atomic({"features": features.contiguous(), "meta": meta}, path)


def pick_subset(count: int, total: int, seed: int = 0) -> Tensor:
    """The same ``count`` indices out of ``total`` every time (the cache key depends on it)."""
    if count >= total:
        return torch.arange(total)
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:count].sort().values


def batched(images: Tensor, batch_size: int) -> Iterable[Tensor]:
    for start in range(0, len(images), batch_size):
        yield images[start : start + batch_size]


def real_features(images: Tensor, dataset_key: str, count: int | None, extractor: nn.Module, cache_dir: str | Path,
                  batch_size: int = 100, device: torch.device | str = "cpu",
                  progress: Callable[[int], None] | None = None) -> Tensor:
    """Features of ``count`` real images (a fixed subset; all when None or more than there are),
    read from the cache when an earlier run computed them, else computed and cached."""
    count = len(images) if count is None else min(int(count), len(images))
    path = real_stats_path(cache_dir, dataset_key, count, extractor.name)
    cached = load_real_features(path)
    if cached is not None:
        log.info("real statistics: %d images of %s from the cache %s", count, dataset_key, path)
        write_npz_beside(path, cached)
        return cached
    chosen = images[pick_subset(count, len(images))]
    features, _ = extract(extractor, batched(chosen, batch_size), device, progress)
    save_real_features(path, features, {"dataset": dataset_key, "count": count, "extractor": extractor.name})
    write_npz_beside(path, features)
    log.info("real statistics: %d images of %s computed and cached at %s (mu/sigma for other tools: %s)", count,
             dataset_key, path, path.with_suffix(".npz"))
    return features


def write_npz_beside(path: Path, features: Tensor) -> None:
    """The cache's ``mu``/``sigma`` as ``.npz`` (pytorch-fid's layout) beside it, for other tools."""
    from ganforge.metrics.files import save_statistics, statistics

    npz = path.with_suffix(".npz")
    if not npz.is_file():
        save_statistics(npz, statistics(features))


def generated_features(generate: Callable[[int], Tensor], count: int, extractor: nn.Module, batch_size: int = 100,
                       device: torch.device | str = "cpu",
                       progress: Callable[[int], None] | None = None) -> tuple[Tensor, Tensor | None]:
    """Features of ``count`` samples drawn batch by batch from ``generate(n) -> images in [-1, 1]``."""
    sizes = [min(batch_size, count - start) for start in range(0, count, batch_size)]
    return extract(extractor, (generate(n) for n in sizes), device, progress)
