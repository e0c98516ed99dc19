"""(low-res, high-res) pairs for super-resolution from any folder of photos.

Training: random ``crop``-px HR crops with horizontal/vertical flips; the LR input is made on the
fly by antialiased bicubic downscaling (``bicubic_downscale``), in the loader's workers.
Validation: a fixed held-out set (``val_root``, or ``val_images`` files of ``root`` chosen by a
fixed seed, never trained on), centre-cropped to ``val_crop`` px (null: whole images), trimmed
to a multiple of ``scale``. Images smaller than a crop are skipped and counted in one warning.
Decoded images are held in memory as uint8 (checked against ``max_memory_gb`` before decoding).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from rich.progress import track
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganforge.data.images import UNREADABLE_IMAGE_ERRORS
from ganforge.data.photos import SOURCES, check_sources, photo_folders
from ganforge.data.stream import uint8_to_unit
from ganforge.errors import DataNotFoundError, GanforgeError
from ganforge.nets.srresnet import bicubic_downscale

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, by suffix, hidden ones ignored), sorted."""
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder} is not a folder; point data.root (or data.val_root) at a folder of photos")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise DataNotFoundError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    return files


def image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from the file header, or None when it is not a readable image."""
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except UNREADABLE_IMAGE_ERRORS:
        return None


def read_rgb(path: Path) -> Tensor:
    """uint8 (3, H, W); grey and palette images become RGB, alpha is dropped."""
    with Image.open(path) as img:
        return TF.pil_to_tensor(img.convert("RGB"))


class RandomCrops(Dataset):
    """``length`` random (lr, hr) crop pairs per epoch, cycling over the images so each is
    sampled about equally; floats in [-1, 1]."""

    def __init__(self, images: list[Tensor], crop: int, scale: int, length: int) -> None:
        self.images, self.crop, self.scale, self.length = images, crop, scale, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = self.images[index % len(self.images)]
        h, w = image.shape[-2:]
        top = int(torch.randint(h - self.crop + 1, ()))
        left = int(torch.randint(w - self.crop + 1, ()))
        hr = image[:, top : top + self.crop, left : left + self.crop]
        if torch.rand(()) < 0.5:
            hr = hr.flip(-1)
        if torch.rand(()) < 0.5:
            hr = hr.flip(-2)
        hr = uint8_to_unit(hr.contiguous())
        return bicubic_downscale(hr, self.scale), hr


class SRFolder(L.LightningDataModule):
    """``python train.py model=srgan data=sr_folder data.root=<photos>``."""

    num_classes = 0

    def __init__(self, root: str | None, scale: int = 4, crop: int = 96, batch_size: int = 16,
                 val_root: str | None = None, val_images: int = 8, val_crop: int | None = 256,
                 crops_per_epoch: int = 1600, num_workers: int = 4, max_memory_gb: float = 16.0,
                 seed: int = 0) -> None:
        super().__init__()
        if not root:
            raise GanforgeError("set data.root=<folder of high-resolution photos> for data=sr_folder")
        if scale not in (2, 4, 8):
            raise GanforgeError(f"data.scale must be 2, 4 or 8, got {scale}")
        if crop % scale or crop < 4 * scale:
            raise GanforgeError(f"data.crop ({crop}) must be a multiple of data.scale ({scale}) and at least "
                                f"{4 * scale} px")
        if val_crop is not None and val_crop % scale:
            raise GanforgeError(f"data.val_crop ({val_crop}) must be a multiple of data.scale ({scale}) or null")
        if batch_size < 1 or crops_per_epoch < batch_size:
            raise GanforgeError(f"data.batch_size ({batch_size}) must be positive and at most data.crops_per_epoch "
                                f"({crops_per_epoch})")
        self.root = Path(root).expanduser()
        self.val_root = Path(val_root).expanduser() if val_root else None
        self.scale, self.crop, self.batch_size, self.seed = int(scale), int(crop), int(batch_size), int(seed)
        self.val_images, self.val_crop, self.crops_per_epoch = int(val_images), val_crop, int(crops_per_epoch)
        self.num_workers = max(0, min(num_workers, os.cpu_count() or 1))
        self.max_memory_gb = max_memory_gb
        self.sample_shape = (3, self.crop, self.crop)  # the HR crop: what the discriminator sees
        self.train_images: list[Tensor] | None = None
        self.val_pairs: list[tuple[Tensor, Tensor]] = []  # held-out pairs, read by setup
        self.val_names: list[str] = []

    # ---- files -------------------------------------------------------------------------------
    def split_files(self) -> tuple[list[Path], list[Path]]:
        """(train, validation) files; the held-out choice depends on the file list only, not the run seed."""
        files = image_files(self.root)
        if self.val_root is not None:
            return files, image_files(self.val_root)
        if len(files) <= self.val_images:
            raise GanforgeError(f"{self.root} has {len(files)} images; holding out data.val_images="
                                f"{self.val_images} for validation leaves none to train on. Add photos, lower "
                                "data.val_images, or set data.val_root=<another folder>")
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(0)).tolist()
        held = set(order[: self.val_images])
        return [f for i, f in enumerate(files) if i not in held], [f for i, f in enumerate(files) if i in held]

    @staticmethod
    def _usable(files: list[Path], min_side: int) -> tuple[list[Path], list[Path], list[Path], int]:
        """(kept, too small, unreadable, pixels of the kept ones) by the file headers, without decoding."""
        sizes = [(f, image_size(f)) for f in files]
        fitting = [(f, s) for f, s in sizes if s is not None and min(s) >= min_side]
        small = [f for f, s in sizes if s is not None and min(s) < min_side]
        return [f for f, _ in fitting], small, [f for f, s in sizes if s is None], sum(h * w for _, (h, w) in fitting)

    def _check_memory(self, pixels: int) -> None:
        need = 3 * pixels  # uint8 RGB
        if need > self.max_memory_gb * 2**30:
            raise GanforgeError(f"the decoded photos need {need / 2**30:.1f} GiB, more than data.max_memory_gb="
                                f"{self.max_memory_gb}; raise it or use fewer or smaller photos")

    # ---- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_images is not None:
            return
        train_files, val_files = self.split_files()
        val_min = self.val_crop or 4 * self.scale
        (train_files, small, unreadable, train_pixels), (val_files, val_small, val_unreadable, val_pixels) = (
            self._usable(train_files, self.crop), self._usable(val_files, val_min))
        skipped = small + val_small + unreadable + val_unreadable
        if skipped:
            warnings.warn(f"skipped {len(small) + len(val_small)} images smaller than a crop ({self.crop} px for "
                          f"training, {val_min} px for validation) and {len(unreadable) + len(val_unreadable)} "
                          f"unreadable files (e.g. {', '.join(str(f) for f in skipped[:3])})", stacklevel=2)
        if not train_files:
            raise DataNotFoundError(f"no training photo under {self.root} is at least data.crop={self.crop} px on "
                                    "its shorter side; lower data.crop or add larger photos")
        if not val_files:
            raise DataNotFoundError("no validation photo is large enough; lower data.val_crop or set data.val_root")
        self._check_memory(train_pixels + val_pixels)
        self.train_images = [read_rgb(f) for f in track(train_files, description="decoding training photos",
                                                       disable=len(train_files) < 64)]
        self.val_pairs = [self.validation_pair(read_rgb(f)) for f in val_files]
        self.val_names = [f.stem for f in val_files]
        log.info("super-resolution data: %d training photos, %d validation photos, x%d, %d px crops",
                 len(train_files), len(val_files), self.scale, self.crop)

    def validation_pair(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 photo -> (lr, hr) in [-1, 1]: centre crop (or whole), trimmed to a multiple of scale."""
        if self.val_crop is not None:
            image = TF.center_crop(image, [self.val_crop, self.val_crop])
        h, w = image.shape[-2:]
        hr = uint8_to_unit(image[:, : h - h % self.scale, : w - w % self.scale].contiguous())
        return bicubic_downscale(hr, self.scale), hr

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        assert self.train_images is not None
        dataset = RandomCrops(self.train_images, self.crop, self.scale, self.crops_per_epoch)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          pin_memory=torch.cuda.is_available())


class SRPhotos(SRFolder):
    """``python train.py model=srresnet data=sr_photos``: ``SRFolder`` on the fixed set of real
    photographs of ``ganforge.data.photos``, assembled under ``root`` on first use."""

    def __init__(self, root: str, sources: Sequence[str] = SOURCES, max_side: int = 1024, download: bool = True,
                 val_root: str | None = None, val_images: int | None = None, **kwargs: Any) -> None:
        if not root:
            raise GanforgeError("set data.root=<folder where the photos are assembled> for data=sr_photos")
        if val_root:
            raise GanforgeError("data=sr_photos holds out its photos by name (root/val); for another split use "
                                "data=sr_folder data.root=<photos> data.val_root=<held-out photos>")
        self.sources = check_sources(sources)
        self.photos_root, self.max_side, self.download = Path(root).expanduser(), int(max_side), bool(download)
        crop, val_crop = kwargs.get("crop", 96), kwargs.get("val_crop", 256)
        if self.max_side < max(crop, val_crop or 0):
            raise GanforgeError(f"data.max_side ({max_side}) must be at least data.crop ({crop}) and data.val_crop "
                                f"({val_crop})")
        super().__init__(root=str(self.photos_root / "train"), val_root=str(self.photos_root / "val"), **kwargs)

    def prepare_data(self) -> None:
        photo_folders(self.photos_root, self.sources, self.max_side, self.download)

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # cheap when the photos are there; evaluate.py and tests call setup alone
        super().setup(stage)
