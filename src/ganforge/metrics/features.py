"""Feature extractors for the image metrics: one forward pass gives the pool features (FID, KID,
precision/recall) and, where the network has them, the class logits (Inception Score).

Every extractor takes uint8 images (N, 3, H, W) in [0, 255], returns ``(features, logits or
None)`` and has a ``name`` that keys cached real statistics, so statistics computed with one
network are never reused with another.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError


class WeightsUnavailableError(GanforgeError):
    """The feature extractor's weights are neither on disk nor downloadable."""


def to_uint8(images: Tensor) -> Tensor:
    """Generator output in [-1, 1] -> uint8 in [0, 255] with rounding (truncation would darken
    every pixel by half a level on average and bias FID); uint8 input is returned as is."""
    if images.dtype == torch.uint8:
        return images
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_uint8_rgb(images: Tensor) -> Tensor:
    """``to_uint8`` with grey repeated to 3 channels: the input the literature's FID code expects."""
    images = to_uint8(images)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[1] != 3:
        raise ValueError(f"image metrics need 1- or 3-channel images, got {images.shape[1]} channels")
    return images


class InceptionFeatures(nn.Module):
    """The FID Inception network of the literature (TF 2015-12-05 graph, as torchmetrics and
    torch-fidelity load it) with the TF-compatible bilinear resize (``antialias=False``), so the
    numbers compare with published FIDs. ``weights``: a local file; null downloads once into the
    torch hub cache (``$TORCH_HOME/hub/checkpoints``), where later runs find it offline.

    The seeded offline weights carry no classification layer (NaN); then ``has_logits`` is false
    and the Inception Score is skipped rather than logged as NaN."""

    num_features = 2048

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        if weights is not None and not Path(weights).expanduser().is_file():
            raise WeightsUnavailableError(f"metrics.inception_weights={weights} does not exist")
        path = str(Path(weights).expanduser()) if weights is not None else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.net = NoTrainInceptionV3(
                    "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=path,
                    antialias=False)
        except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
            hub = Path(torch.hub.get_dir()) / "checkpoints"
            raise WeightsUnavailableError(
                f"the FID Inception weights could not be loaded ({type(err).__name__}: {err}). Put "
                f"weights-inception-2015-12-05-6726825d.pth in {hub} (torchmetrics/torch-fidelity download it "
                "there at first use), or pass metrics.inception_weights=<path>") from err
        self.has_logits = bool(torch.isfinite(self.net.fc.weight).all())
        self.name = "inception-2015-12-05" + ("" if weights is None else f"-{_file_digest(path)}")

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        features, logits = self.net._torch_fidelity_forward(to_uint8_rgb(images))
        return features.float(), (logits.float() if self.has_logits else None)


class RandomConvFeatures(nn.Module):
    """A tiny fixed random conv net (seeded, no weights to download): for tests and quick
    checks of the metric pipeline. Its numbers are *not* comparable with Inception FIDs."""

    num_features = 32
    has_logits = True

    def __init__(self, seed: int = 0, num_classes: int = 10) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, self.num_features, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(self.num_features, num_classes)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=generator) * 0.3
        self.requires_grad_(False)
        self.name = f"random-conv-s{seed}"

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        x = to_uint8_rgb(images).float() / 127.5 - 1
        features = self.body(x)
        return features, self.head(features)


def _file_digest(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]
