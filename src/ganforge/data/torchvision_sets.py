"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, found offline when already on disk."""

from __future__ import annotations

import gzip
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision import datasets

from ganforge.data.images import ImageDataModule, check_fit
from ganforge.errors import DataNotFoundError, GanforgeError

log = logging.getLogger(__name__)

# name -> (torchvision class, its folder under root, classes, pretty name)
SETS = {
    "mnist": (datasets.MNIST, "MNIST", 10, "MNIST"),
    "fashion_mnist": (datasets.FashionMNIST, "FashionMNIST", 10, "Fashion-MNIST"),
    "cifar10": (datasets.CIFAR10, "cifar-10-batches-py", 10, "CIFAR-10"),
}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def seed_idx_files(raw_dir: Path, system_dirs: Sequence[str]) -> Path | None:
    """Copy (decompressing) the four MNIST-format files from the first system folder that has them
    all, e.g. Debian's ``/usr/share/datasets/fashion-mnist``, into torchvision's ``raw`` folder."""
    if all((raw_dir / f).is_file() for f in _IDX_FILES):
        return None
    for folder in map(Path, system_dirs):
        found = {f: next((p for p in (folder / f, folder / f"{f}.gz") if p.is_file()), None) for f in _IDX_FILES}
        if not all(found.values()):
            continue
        raw_dir.mkdir(parents=True, exist_ok=True)
        for name, src in found.items():
            opener = gzip.open if src.suffix == ".gz" else open
            with opener(src, "rb") as fin, open(raw_dir / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        log.info("copied %s from %s", ", ".join(_IDX_FILES), folder)
        return folder
    return None


class TorchvisionImages(ImageDataModule):
    """One of ``SETS`` (training split), decoded once and held in memory.

    Looked up under ``root`` in torchvision's layout, then in ``system_dirs`` (MNIST-format
    files only), then downloaded when ``download`` is true.
    """

    def __init__(
        self,
        name: str,
        root: str,
        resolution: int = 32,
        channels: int = 1,
        fit: str = "resize",
        download: bool = True,
        system_dirs: Sequence[str] = (),
        train: bool = True,
        **kwargs,
    ) -> None:
        if name not in SETS:
            raise GanforgeError(f"unknown torchvision set {name!r}; choose one of: {', '.join(SETS)}")
        super().__init__(resolution=resolution, channels=channels, num_classes=SETS[name][2], **kwargs)
        self.name, self.root, self.download = name, Path(root), download
        self.fit = check_fit(fit)  # before any file is read
        self.system_dirs, self.train = list(system_dirs), train

    reference_splits = ("train", "test")

    def dataset_name(self) -> str:
        return f"{self.name}-{self.fit}"

    def reference_images(self, split: str) -> Tensor:
        """The training images already in memory, or the held-out test split decoded the same way."""
        self.check_reference_split(split)
        if (split == "train") == self.train:
            self.setup("fit")
            assert self.samples is not None
            return self.samples
        images, _ = self._decode(self._dataset(train=split == "train"))
        return images

    def _dataset(self, train: bool | None = None):
        train = self.train if train is None else train
        cls, folder, _, pretty = SETS[self.name]
        if cls is not datasets.CIFAR10:
            seed_idx_files(self.root / folder / "raw", self.system_dirs)
        try:
            return cls(str(self.root), train=train, download=self.download)
        except (RuntimeError, OSError) as err:  # torchvision raises RuntimeError for missing/failed downloads
            where = self.root / folder
            extra = f", or in one of {self.system_dirs}" if self.system_dirs else ""
            how = "it could not be downloaded" if self.download else "data.download=false"
            raise DataNotFoundError(
                f"{pretty} was not found under {where}{extra}, and {how} ({err}). "
                f"Put the dataset files there (torchvision's layout), point data.root at a folder that has "
                f"them, or run once with network access."
            ) from err

    def prepare_data(self) -> None:
        self._dataset()

    def load(self) -> tuple[Tensor, Tensor]:
        return self._decode(self._dataset())

    def _decode(self, ds) -> tuple[Tensor, Tensor]:
        images = torch.as_tensor(np.asarray(ds.data))
        images = images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)
        return self.finish(images, torch.as_tensor(ds.targets), self.fit)
