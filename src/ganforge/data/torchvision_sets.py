"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, found offline when already on disk."""

from __future__ import annotations

import gzip
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision import datasets

from ganforge.data.debian import unpacked_package
from ganforge.data.images import ImageDataModule, check_fit
from ganforge.data.mapped import MappedImages
from ganforge.errors import DataNotFoundError, GanforgeError, one_line
from ganforge.files import atomic_path
from ganforge.reporting import counting

log = logging.getLogger(__name__)

# name -> (torchvision class, its folder under root, classes, pretty name)
SETS = {
    "mnist": (datasets.MNIST, "MNIST", 10, "MNIST"),
    "fashion_mnist": (datasets.FashionMNIST, "FashionMNIST", 10, "Fashion-MNIST"),
    "cifar10": (datasets.CIFAR10, "cifar-10-batches-py", 10, "CIFAR-10"),
}
# Sets that Debian packages (MNIST-format files under /usr/share/datasets/<folder>): the fallback
# when torchvision's download fails on a machine that reaches only package mirrors.
DEBIAN_PACKAGES = {"fashion_mnist": ("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist")}
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
            with opener(src, "rb") as fin, atomic_path(raw_dir / name) as tmp, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        log.info("copied %s from %s", ", ".join(_IDX_FILES), folder)
        return folder
    return None


def fetch_debian_package(package: str, folder_inside: str, raw_dir: Path) -> None:
    """``apt-get download`` the package (no root needed), unpack it beside ``raw_dir`` and copy its
    MNIST-format files into ``raw_dir``."""
    with unpacked_package(package, raw_dir.parent) as tree:
        if seed_idx_files(raw_dir, [str(tree / folder_inside)]) is None:
            raise OSError(f"{package} has no MNIST-format files under /{folder_inside}")


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

    @property
    def class_names(self) -> list[str]:
        """Names of the labels where torchvision's class declares them (MNIST, Fashion-MNIST)."""
        return list(getattr(SETS[self.name][0], "classes", []))

    def dataset_name(self) -> str:
        return f"{self.name}-{self.fit}"

    def labelled_images(self, split: str) -> tuple[Tensor, Tensor]:
        """The training images already in memory, or the held-out test split decoded the same way."""
        self.check_reference_split(split)
        if (split == "train") == self.train:
            self.setup()
            assert self.samples is not None and self.labels is not None
            return self.samples, self.labels
        return self._decode(self._dataset(train=split == "train"))

    def _dataset(self, train: bool | None = None):
        train = self.train if train is None else train
        cls, folder, _, pretty = SETS[self.name]
        raw_dir = self.root / folder / "raw"
        if cls is not datasets.CIFAR10:
            seed_idx_files(raw_dir, self.system_dirs)
        try:
            return cls(str(self.root), train=train, download=self.download)
        except Exception as err:  # noqa: BLE001  (RuntimeError for missing/failed downloads, asserts and pickle errors)
            if any(p.is_file() for p in (self.root / folder).rglob("*")):
                raise self._unreadable(err) from None  # the files are there and do not parse
            if not isinstance(err, (RuntimeError, OSError)):
                raise
            failure = one_line(err, limit=200)
        debian = DEBIAN_PACKAGES.get(self.name)
        if self.download and debian is not None:
            try:
                fetch_debian_package(*debian, raw_dir)
                log.info("%s: torchvision's download failed, so it came from Debian's package %s "
                         "(apt-get download, unpacked into %s)", pretty, debian[0], raw_dir)
                return cls(str(self.root), train=train, download=False)
            except (RuntimeError, OSError) as err:
                failure += f"; Debian's package {debian[0]} could not be fetched either ({one_line(err, 200)})"
        where = self.root / folder
        extra = f", or in one of {self.system_dirs}" if self.system_dirs else ""
        how = "it could not be downloaded" if self.download else "data.download=false"
        also = (f", or install Debian's package (apt-get install {debian[0]}; its folder /{debian[1]} is "
                "searched)") if debian else ""
        raise DataNotFoundError(
            f"{pretty} was not found under {where}{extra}, and {how} ({failure}). Run once with network "
            f"access, put the dataset files there (torchvision's layout) or point data.root at a folder that "
            f"has them{also}"
        )

    def _unreadable(self, err: Exception) -> GanforgeError:
        """Files that exist but do not parse: named, with what to do."""
        _, folder, _, pretty = SETS[self.name]
        where = self.root / folder
        files = sorted(str(p.relative_to(where)) for p in where.rglob("*") if p.is_file())
        shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
        return GanforgeError(
            f"{pretty} files under {where} could not be read ({type(err).__name__}: {one_line(err, 150) or 'no detail'}"
            f"; files there: {shown or 'none'}): they are damaged or not torchvision's layout. Delete {where} and "
            "run again to download them, or put intact copies there")

    def prepare_data(self) -> None:
        self._dataset()

    def load(self) -> tuple[Tensor | MappedImages, Tensor]:
        ds = self._dataset()
        storage = self.decide_storage(len(ds.data))
        if storage == "memory":
            return self._decode(ds)
        # Fitted at a resolution whose set exceeds the memory budget: fitted chunk by chunk into
        # the cache file and streamed from it.
        channels, resolution, _ = self.sample_shape
        name = f"{self.dataset_name()}-{'train' if self.train else 'test'}-{channels}ch-{resolution}px"
        return self.cached(storage, f"{name}.u8", f"{name}-{len(ds.data)}", lambda: self._fitted_chunks(ds))

    def _fitted_chunks(self, ds) -> Iterator[tuple[Tensor, Tensor]]:
        size = max(4, self.chunk_bytes() // torch.Size(self.sample_shape).numel())
        targets = torch.as_tensor(ds.targets)
        with counting(len(ds.data), f"fitting {self.name} to {self.sample_shape[1]} px") as advance:
            for start in range(0, len(ds.data), size):
                part = self._as_nchw(ds.data[start:start + size])
                yield self.finish(part, targets[start:start + size], self.fit)
                advance(len(part))

    @staticmethod
    def _as_nchw(data) -> Tensor:
        images = torch.as_tensor(np.asarray(data))
        return images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)

    def _decode(self, ds) -> tuple[Tensor, Tensor]:
        return self.finish(self._as_nchw(ds.data), torch.as_tensor(ds.targets), self.fit)
