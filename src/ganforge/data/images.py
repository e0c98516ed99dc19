"""The base of every image DataModule: decoded once into a uint8 tensor in memory, fitted to
the configured resolution and channels, served as shuffled batches in [-1, 1]."""

from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import Tensor

from ganforge.data.base import InMemoryDataModule
from ganforge.errors import GanforgeError

# What Pillow raises for a file that is not a readable image (truncated, corrupt, not an image, too large).
UNREADABLE_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

FITS = ("resize", "pad")
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def match_channels(x: Tensor, channels: int) -> Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} -> ``channels`` channels (grey repeated, or ITU-R 601 luma)."""
    if x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and x.shape[1] == 3:
        return (x.float() * _LUMA).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise GanforgeError(f"cannot turn {x.shape[1]}-channel images into {channels}; use data.channels=1 or 3")


def check_fit(fit: str) -> str:
    """``fit`` itself, or the message naming the valid choices."""
    if fit not in FITS:
        raise GanforgeError(f"data.fit must be one of {', '.join(FITS)}, got {fit!r}")
    return fit


def fit_images(x: Tensor, resolution: int, fit: str = "resize", chunk: int = 4096) -> Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, resolution, resolution).

    ``resize``: shorter side to ``resolution`` (antialiased) then center crop.
    ``pad``: centre the image on a black canvas (28 px MNIST -> 32 px keeps every pixel as is).
    """
    check_fit(fit)
    height, width = x.shape[-2:]
    if (height, width) == (resolution, resolution):
        return x
    if fit == "pad":
        if height > resolution or width > resolution:
            raise GanforgeError(
                f"data.fit=pad cannot shrink {height}x{width} images to {resolution} px; use data.fit=resize"
            )
        top, left = (resolution - height) // 2, (resolution - width) // 2
        return TF.pad(x, [left, top, resolution - width - left, resolution - height - top], fill=0)
    parts = [TF.center_crop(TF.resize(x[i : i + chunk], resolution, antialias=True), resolution)
             for i in range(0, len(x), chunk)]
    return torch.cat(parts)


class ImageDataModule(InMemoryDataModule):
    """Images held in memory as uint8; subclasses implement ``load``.

    ``sample_shape`` and ``num_classes`` are known from the config alone, before any file is
    read, so the model can be built and checked first.
    """

    def __init__(
        self,
        resolution: int,
        channels: int,
        batch_size: int = 64,
        num_classes: int = 0,
        seed: int = 0,
        max_memory_gb: float = 16.0,
    ) -> None:
        if channels not in (1, 3):
            raise GanforgeError(f"data.channels must be 1 or 3, got {channels}")
        if resolution < 4:
            raise GanforgeError(f"data.resolution must be at least 4, got {resolution}")
        super().__init__((channels, resolution, resolution), num_classes, batch_size, seed)
        self.max_memory_gb = max_memory_gb

    def check_memory(self, count: int) -> None:
        """Refuse, before decoding, a set that would not fit the configured memory budget."""
        need = count * torch.Size(self.sample_shape).numel() / 2**30
        if need > self.max_memory_gb:
            raise GanforgeError(
                f"{count} images at {self.sample_shape[1]} px need {need:.1f} GiB in memory, over "
                f"data.max_memory_gb={self.max_memory_gb}; lower data.resolution or raise data.max_memory_gb"
            )

    # ---- reference images for the image metrics (FID etc.) ----------------------------------
    reference_splits: tuple[str, ...] = ("train",)

    def reference_images(self, split: str) -> Tensor:
        """uint8 (N, C, H, W) images of ``split``, fitted like the training images. The base offers
        the training images only; sets with a held-out split override this."""
        self.check_reference_split(split)
        self.setup()
        assert self.samples is not None
        return self.samples

    def check_reference_split(self, split: str) -> None:
        if split not in self.reference_splits:
            offered = " or ".join(self.reference_splits)
            raise GanforgeError(f"{type(self).__name__} offers metrics.real_split={offered}, got {split!r}")

    def reference_key(self, split: str) -> str:
        """Identifies the reference images (set, split, channels, resolution) in metric caches."""
        channels, resolution, _ = self.sample_shape
        return f"{self.dataset_name()}-{split}-{channels}ch-{resolution}px"

    def dataset_name(self) -> str:
        return type(self).__name__

    def finish(self, images: Tensor, labels: Tensor, fit: str) -> tuple[Tensor, Tensor]:
        """Fit decoded uint8 images to this module's channels and resolution."""
        channels, resolution, _ = self.sample_shape
        images = fit_images(match_channels(images, channels), resolution, fit)
        return images.contiguous(), labels.long()
