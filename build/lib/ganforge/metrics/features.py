"""Feature extractors for the image metrics: one forward pass gives the pool features (FID, KID,
precision/recall) and, where the network has them, the class logits (Inception Score).

Every extractor takes uint8 images (N, 3, H, W) in [0, 255], returns ``(features, logits or
None)`` and has a ``name`` that keys cached real statistics, so statistics computed with one
network are never reused with another.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError, SettingError


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
        raise SettingError(f"image metrics need 1- or 3-channel images, got {images.shape[1]} channels")
    return images


# torch-fidelity's FID Inception network, layer by layer as its own forward runs them.
INCEPTION_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                    "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool")
INCEPTION_SIZE = 299


def fold_batch_norms(net: nn.Module) -> None:
    """Every conv + BatchNorm pair of torch-fidelity's ``BasicConv2d`` blocks becomes one conv
    with a bias (exact in eval mode up to float rounding): one pass over each activation fewer."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for block in net.modules():
        if isinstance(getattr(block, "bn", None), nn.BatchNorm2d) and isinstance(getattr(block, "conv", None),
                                                                                 nn.Conv2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = nn.Identity()


class InceptionFeatures(nn.Module):
    """The FID Inception network of the literature (TF 2015-12-05 graph, torch-fidelity's
    ``FeatureExtractorInceptionV3`` with its weights) with the TF 1.x bilinear resize to 299 px,
    so the numbers compare with published FIDs. ``weights``: a local file; null downloads once
    into the torch hub cache (``$TORCH_HOME/hub/checkpoints``), where later runs find it offline.

    Faster than running torch-fidelity's module as it is, with the same features (checked against
    it by the tests): BatchNorm folded into the convolutions, channels-last activations (oneDNN's
    fast layout on the CPU), and the resize as two small matrix products whose coefficients are
    torch-fidelity's own resize applied to a unit basis (bilinear resizing is separable), computed
    once per input size.

    The seeded offline weights carry no classification layer (NaN); then ``has_logits`` is false
    and the Inception Score is skipped rather than logged as NaN."""

    num_features = 2048

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if weights is not None and not Path(weights).expanduser().is_file():
            raise WeightsUnavailableError(f"metrics.inception_weights={weights} does not exist")
        path = str(Path(weights).expanduser()) if weights is not None else None
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.simplefilter("ignore")
                net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                  feature_extractor_weights_path=path)
        except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
            hub = Path(torch.hub.get_dir()) / "checkpoints"
            raise WeightsUnavailableError(
                f"the FID Inception weights could not be loaded ({type(err).__name__}: {err}). Put "
                f"weights-inception-2015-12-05-6726825d.pth in {hub} (torchmetrics/torch-fidelity download it "
                "there at first use), or pass metrics.inception_weights=<path>") from err
        fold_batch_norms(net)
        self.layers = nn.Sequential(*(getattr(net, name) for name in INCEPTION_LAYERS))
        self.layers.to(memory_format=torch.channels_last)
        self.fc_weight = nn.Parameter(net.fc.weight.detach().clone(), requires_grad=False)
        self.requires_grad_(False)
        self.eval()
        self.has_logits = bool(torch.isfinite(self.fc_weight).all())
        self.name = "inception-2015-12-05" + ("" if weights is None else f"-{_file_digest(path)}")
        self._resize: dict[tuple[int, int, str], tuple[Tensor, Tensor]] = {}

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)  # a fixed network: BatchNorm is folded, nothing may switch it to training

    def resize_matrices(self, height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """(299, height) and (299, width) matrices that resize as torch-fidelity's TF 1.x bilinear
        interpolation does (align_corners false, no antialiasing)."""
        key = (height, width, str(device))
        if key not in self._resize:
            from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

            def one_axis(n: int) -> Tensor:
                basis = torch.eye(n, dtype=torch.float64).view(n, 1, n, 1)  # unit images, n x 1 pixels
                out = interpolate_bilinear_2d_like_tensorflow1x(basis, size=(INCEPTION_SIZE, 1), align_corners=False)
                return out.view(n, INCEPTION_SIZE).T.float().to(device)  # column k: the weights of input row k

            self._resize[key] = (one_axis(height), one_axis(width))
        return self._resize[key]

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        x = to_uint8_rgb(images).to(self.fc_weight.device)
        rows, cols = self.resize_matrices(x.shape[2], x.shape[3], x.device)
        # (x - 128) / 128 before resizing: each output pixel's weights sum to 1, so it commutes.
        x = (x.permute(0, 2, 3, 1).float() - 128) / 128  # N, H, W, C
        x = torch.einsum("ph,nhwc->npwc", rows, x)
        x = torch.einsum("qw,npwc->npqc", cols, x)  # N, 299, 299, C in memory: channels-last
        features = self.layers(x.permute(0, 3, 1, 2)).flatten(1)
        logits = features @ self.fc_weight.T if self.has_logits else None  # torch-fidelity's logits_unbiased
        return features.float(), logits


class RandomConvFeatures(nn.Module):
    """A tiny fixed random conv net (seeded, no weights to download): for tests and quick
    checks of the metric pipeline. Its numbers are *not* comparable with Inception FIDs."""

    num_features = 32
    has_logits = True
    # Said beside every number it produces (logs, evaluate.py's table), so none is quoted as an FID.
    caveat = "random_conv features: NOT comparable with published FID/KID/IS (a pipeline check)"

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
