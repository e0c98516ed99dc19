"""The base of every image DataModule: decoded once into uint8, fitted to the configured
resolution and channels, held in memory or streamed from the decode-once cache file, served as
shuffled batches in [-1, 1]."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import Tensor

from ganforge.data.base import InMemoryDataModule
from ganforge.data.mapped import MappedImages, open_cache, write_cache
from ganforge.errors import GanforgeError
from ganforge.schema import Above, Annotated, AtLeast, check_arguments

log = logging.getLogger(__name__)

# What Pillow raises for a file that is not a readable image (truncated, corrupt, not an image, too large).
UNREADABLE_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

FITS = ("resize", "pad")
# Resize filters of folder data: torch's antialiased ones on tensors, Pillow's for the others.
ResizeFilter = Literal["bilinear", "bicubic", "nearest", "lanczos", "box"]
TENSOR_FILTERS = {"bilinear": TF.InterpolationMode.BILINEAR, "bicubic": TF.InterpolationMode.BICUBIC,
                  "nearest": TF.InterpolationMode.NEAREST}
PIL_FILTERS = {"lanczos": TF.InterpolationMode.LANCZOS, "box": TF.InterpolationMode.BOX}
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


def fit_images(x: Tensor, resolution: int, fit: str = "resize", chunk: int = 4096,
               resize_filter: str = "bilinear") -> Tensor:
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
    mode = TENSOR_FILTERS.get(resize_filter, TF.InterpolationMode.BILINEAR)  # Pillow's: resized before
    parts = [TF.center_crop(TF.resize(x[i : i + chunk], resolution, interpolation=mode,
                                      antialias=mode != TF.InterpolationMode.NEAREST), resolution)
             for i in range(0, len(x), chunk)]
    return torch.cat(parts)


class ImageDataModule(InMemoryDataModule):
    """Images as uint8: held in memory, or streamed from the decode-once cache file when the set
    is larger than ``max_memory_gb`` (or ``storage=mapped``); subclasses implement ``load``.

    ``sample_shape`` and ``num_classes`` are known from the config alone, before any file is
    read, so the model can be built and checked first.
    """

    def __init__(
        self,
        resolution: Annotated[int, AtLeast(4)],
        channels: Literal[1, 3],
        batch_size: int = 64,
        num_classes: int = 0,
        seed: int = 0,
        max_memory_gb: Annotated[float, Above(0)] = 16.0,
        storage: Literal["auto", "memory", "mapped"] = "auto",
        cache_dir: str | None = None,
    ) -> None:
        check_arguments(ImageDataModule.__init__, locals(), "data")  # ranges: the signature (ganforge.schema)
        super().__init__((channels, resolution, resolution), num_classes, batch_size, seed)
        self.max_memory_gb, self.storage = float(max_memory_gb), storage
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def decide_storage(self, count: int) -> str:
        """``memory`` or ``mapped`` for ``count`` images, decided before decoding: ``auto`` streams
        from the cache file only when the decoded set would exceed ``max_memory_gb``."""
        need = count * torch.Size(self.sample_shape).numel() / 2**30
        over = need > self.max_memory_gb
        if self.storage == "memory" and over:
            raise GanforgeError(
                f"{count} images at {self.sample_shape[1]} px need {need:.1f} GiB in memory, over "
                f"data.max_memory_gb={self.max_memory_gb}; use data.storage=auto (streams them from disk), "
                "lower data.resolution or raise data.max_memory_gb"
            )
        if self.storage == "memory" or (self.storage == "auto" and not over):
            return "memory"
        if self.cache_dir is None:
            raise GanforgeError(f"{count} images at {self.sample_shape[1]} px ({need:.1f} GiB) are streamed from a "
                                f"cache file (data.storage={self.storage}, data.max_memory_gb={self.max_memory_gb}), "
                                "which needs data.cache_dir")
        log.info("%d images at %d px need %.2f GiB: streaming them from a cache file under %s "
                 "(data.max_memory_gb=%g, data.storage=%s)", count, self.sample_shape[1], need, self.cache_dir,
                 self.max_memory_gb, self.storage)
        return "mapped"

    def chunk_bytes(self) -> int:
        """Decoded bytes per chunk while writing the cache: an eighth of the memory budget (a chunk
        is held twice, decoded and stacked), at most 256 MiB, so decoding a set of any size stays
        within ``max_memory_gb``."""
        return int(min(256 * 2**20, self.max_memory_gb * 2**30 / 8))

    def cached(self, storage: str, name: str, key: str,
               chunks: Callable[[], Iterable[tuple[Tensor, Tensor]]]) -> tuple[Tensor | MappedImages, Tensor]:
        """The set from its cache file ``name`` under ``cache_dir`` (written from ``chunks()`` when
        missing, unfinished or stale), in memory or as ``MappedImages`` as ``storage`` says."""
        assert self.cache_dir is not None
        path = self.cache_dir / name
        found = open_cache(path, key)
        if found is None:
            found = write_cache(path, key, self.sample_shape, chunks())
        else:
            log.info("decoded images from the cache %s", path)
        images, labels = found
        return (images.load_all() if storage == "memory" else images), labels

    # ---- reference images for the image metrics (FID etc.) ----------------------------------
    reference_splits: tuple[str, ...] = ("train",)

    def reference_images(self, split: str) -> Tensor | MappedImages:
        """uint8 (N, C, H, W) images of ``split``, fitted like the training images (indexable by a
        tensor of rows)."""
        return self.labelled_images(split)[0]

    def labelled_images(self, split: str) -> tuple[Tensor | MappedImages, Tensor]:
        """The images of ``split`` and their int64 labels (all 0 for unlabelled data). The base
        offers the training images only; sets with a held-out split override this."""
        self.check_reference_split(split)
        self.setup()
        assert self.samples is not None and self.labels is not None
        return self.samples, self.labels

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
