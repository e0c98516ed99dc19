"""Image sets read from folders of files: any folder tree (``ImageFolderImages``) and CelebA
aligned faces (``CelebAImages``). Files are decoded once, by a few threads and in chunks, fitted to
the target size and cached on disk as one uint8 file keyed by the file list and the
preprocessing (``data.mapped``), so later runs and sweeps start in seconds and sets larger than
memory stream from it. Unreadable files are skipped and counted in one warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import Tensor

from ganforge.data.images import PIL_FILTERS, UNREADABLE_IMAGE_ERRORS, ImageDataModule, ResizeFilter, fit_images
from ganforge.data.mapped import MappedImages
from ganforge.errors import DataNotFoundError, GanforgeError
from ganforge.reporting import counting
from ganforge.schema import Above, Annotated, AtLeast, check_arguments

log = logging.getLogger(__name__)


def decode_image(path: str, resolution: int, channels: int, crop: int | None = None,
                 resize_filter: str = "bilinear") -> Tensor | None:
    """One file -> uint8 (C, resolution, resolution): optional centre crop, shorter side resized
    with ``resize_filter`` (antialiased), centre crop. None when the file is not a readable image."""
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
    except UNREADABLE_IMAGE_ERRORS:
        return None
    if crop is not None:
        img = TF.center_crop(img, crop)
    if resize_filter in PIL_FILTERS and min(img.size) != resolution:  # Pillow's own filters
        img = TF.resize(img, resolution, interpolation=PIL_FILTERS[resize_filter])
    x = TF.pil_to_tensor(img)
    return fit_images(x.unsqueeze(0), resolution, "resize", resize_filter=resize_filter)[0]


def decoded_chunks(
    files: Sequence[Path], labels: Sequence[int], resolution: int, channels: int, crop: int | None, workers: int,
    what: str, chunk_bytes: int = 256 * 2**20, stall_seconds: float = 300.0, resize_filter: str = "bilinear",
) -> Iterator[tuple[Tensor, Tensor]]:
    """Decode ``files`` with ``workers`` threads, in chunks of about ``chunk_bytes`` decoded bytes,
    yielding ``(uint8 images, labels)`` of the readable ones in order: memory use is one chunk,
    whatever the set's size. Unreadable files are skipped and counted in one warning at the end.

    Threads, not processes: Pillow and torch release the GIL while they decode and resize, and a
    process pool forked from a process whose OpenMP pool is running deadlocks in its first
    parallel torch op. When no file finishes for ``stall_seconds`` the decode stops with one line
    naming the file it waits on, instead of waiting forever."""
    row_bytes = channels * resolution * resolution
    size = max(4, chunk_bytes // row_bytes)
    skipped: list[Path] = []
    settings = (resolution, channels, crop, resize_filter)
    pool = DecodingThreads(workers, settings) if workers > 1 and len(files) > 256 else None
    try:
        with counting(len(files), what, enabled=len(files) >= 256) as advance:
            for start in range(0, len(files), size):
                chunk = [str(f) for f in files[start:start + size]]
                if pool is None:
                    results = []
                    for f in chunk:
                        results.append(decode_image(f, resolution, channels, crop, resize_filter))
                        advance(1)
                else:
                    results = pool.decode(chunk, advance, stall_seconds, what)
                kept = [i for i, r in enumerate(results) if r is not None]
                skipped += [files[start + i] for i, r in enumerate(results) if r is None]
                if kept:
                    yield (torch.stack([results[i] for i in kept]),
                           torch.tensor([labels[start + i] for i in kept], dtype=torch.long))
                del results
    finally:
        if pool is not None:
            pool.close()
    if skipped:
        examples = ", ".join(str(f) for f in skipped)
        warnings.warn(f"skipped {len(skipped)} of {len(files)} files that are not readable images "
                      f"(e.g. {examples[:300]})", stacklevel=2)
    if len(skipped) == len(files):
        raise GanforgeError(f"none of the {len(files)} files in {what} is a readable image")


class DecodingThreads:
    """Daemon threads that decode files from a queue. Written here rather than taken from
    ``concurrent.futures``: its worker threads are joined at interpreter exit, so one read that
    never returns (a hung network mount) would keep the process from exiting even after the
    stall has been reported; daemon threads do not."""

    def __init__(self, workers: int, settings: tuple[int, int, int | None, str]) -> None:
        self.settings = settings
        self.jobs: queue.Queue[tuple[int, str] | None] = queue.Queue()
        self.done: queue.Queue[tuple[int, str, Tensor | BaseException | None]] = queue.Queue()
        self.threads = [threading.Thread(target=self._work, name=f"ganforge-decode-{i}", daemon=True)
                        for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            index, path = job
            try:
                result: Tensor | BaseException | None = decode_image(path, *self.settings)
            except BaseException as err:  # noqa: BLE001 - handed to the main thread, raised there
                result = err
            self.done.put((index, path, result))

    def decode(self, paths: Sequence[str], advance: Callable[[int], None], stall_seconds: float,
               what: str) -> list[Tensor | None]:
        """Every path decoded (None where unreadable), in order; ``advance(1)`` per finished file."""
        for job in enumerate(paths):
            self.jobs.put(job)
        results: list[Tensor | None] = [None] * len(paths)
        pending = set(range(len(paths)))
        while pending:
            try:
                index, path, result = self.done.get(timeout=stall_seconds)
            except queue.Empty:
                waiting = paths[min(pending)]
                raise GanforgeError(
                    f"{what}: no file finished decoding in {stall_seconds:g} s (waiting on {waiting}, "
                    f"{len(pending)} of this chunk's {len(paths)} files left); check that the files can be "
                    f"read (e.g. cat {waiting} > /dev/null), or raise data.decode_stall_s for very large images"
                ) from None
            if isinstance(result, BaseException):
                raise result
            results[index] = result
            pending.discard(index)
            advance(1)
        return results

    def close(self) -> None:
        """Stop the threads once their current file is done (they are daemons: a stuck one does not
        hold the process)."""
        while True:  # drop jobs not yet started
            try:
                self.jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self.threads:
            self.jobs.put(None)


def cache_key(files: Sequence[Path], *parts: object) -> str:
    """Hash of file names, sizes, modification times and the preprocessing settings."""
    digest = hashlib.sha1(repr(parts).encode())
    for f in files:
        st = f.stat()
        digest.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class FolderImages(ImageDataModule):
    """Common part: list files, decode or load the cache, keep labels aligned with kept files."""

    crop: int | None = None

    def __init__(self, root: str | None, num_workers: Annotated[int, AtLeast(1)] = 4,
                 decode_stall_s: Annotated[float, Above(0)] = 300.0, resize_filter: ResizeFilter = "bilinear",
                 **kwargs) -> None:
        check_arguments(FolderImages.__init__, locals(), "data")
        super().__init__(**kwargs)
        if not root:
            raise GanforgeError("set data.root=<folder with images>")
        self.root = Path(root).expanduser()
        self.num_workers = max(1, min(num_workers, os.cpu_count() or 1))
        self.decode_stall_s = float(decode_stall_s)
        self.resize_filter = resize_filter  # FID moves with it: part of every cache key and of metrics.json

    def files_and_labels(self) -> tuple[list[Path], list[int]]:
        raise NotImplementedError

    def dataset_name(self) -> str:
        """The folder (by its absolute path) and the decoding settings, for metric caches."""
        where = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:10]
        return f"{type(self).__name__}-{where}-crop{self.crop}-{self.resize_filter}"

    def load(self) -> tuple[Tensor | MappedImages, Tensor]:
        files, labels = self.files_and_labels()
        channels, resolution, _ = self.sample_shape
        storage = self.decide_storage(len(files))  # before decoding: the count is an upper bound

        def chunks() -> Iterator[tuple[Tensor, Tensor]]:
            return decoded_chunks(files, labels, resolution, channels, self.crop, self.num_workers,
                                  f"decoding {self.root}", self.chunk_bytes(), self.decode_stall_s, self.resize_filter)

        if self.cache_dir is None:  # no cache: decoded into memory (decide_storage refused a larger set)
            parts = list(chunks())
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        key = cache_key(files, labels, type(self).__name__, resolution, channels, self.crop, self.resize_filter)
        return self.cached(storage, f"{type(self).__name__}-{resolution}px-{key}.u8", key, chunks)


class ImageFolderImages(FolderImages):
    """Every file under ``root`` (recursively; hidden files ignored), resized and centre-cropped.

    With ``labels_from_subfolders`` each first-level subfolder is a class (sorted by name).
    """

    def __init__(self, root: str | None, labels_from_subfolders: bool = False, **kwargs) -> None:
        classes: list[str] = []
        if labels_from_subfolders and root and Path(root).is_dir():
            classes = sorted(p.name for p in Path(root).expanduser().iterdir() if p.is_dir())
        super().__init__(root=root, num_classes=len(classes), **kwargs)
        self.classes = self.class_names = classes

    def files_and_labels(self) -> tuple[list[Path], list[int]]:
        if not self.root.is_dir():
            raise DataNotFoundError(f"data.root={self.root} is not a folder; point it at a folder of images")
        files = sorted(
            p for p in self.root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )
        if not files:
            raise DataNotFoundError(f"the folder {self.root} has no files; put images in it (any subfolders)")
        if not self.classes:
            return files, [0] * len(files)
        index = {name: i for i, name in enumerate(self.classes)}
        pairs = [(f, index.get(f.relative_to(self.root).parts[0])) for f in files]
        pairs = [(f, y) for f, y in pairs if y is not None]
        return [f for f, _ in pairs], [y for _, y in pairs]


class CelebAImages(FolderImages):
    """CelebA aligned faces: ``img_align_celeba/`` and ``list_eval_partition.txt`` under ``root``
    or ``root/celeba`` (torchvision's layout). The 178x218 faces are centre-cropped to ``crop``
    (108 px, as in DCGAN/WGAN-GP CelebA code) and resized; ``split`` is train, valid, test or all."""

    SPLITS = {"train": "0", "valid": "1", "test": "2"}

    def __init__(self, root: str, split: str = "train", crop: int | None = 108, **kwargs) -> None:
        if split not in (*self.SPLITS, "all"):
            raise GanforgeError(f"data.split must be train, valid, test or all, got {split!r}")
        super().__init__(root=root, **kwargs)
        self.split, self.crop = split, crop

    def dataset_name(self) -> str:
        return f"celeba-{self.split}-crop{self.crop}-{self.resize_filter}"

    def files_and_labels(self) -> tuple[list[Path], list[int]]:
        base = next((b for b in (self.root / "celeba", self.root) if (b / "img_align_celeba").is_dir()), None)
        if base is None or not (base / "list_eval_partition.txt").is_file():
            raise DataNotFoundError(
                f"CelebA not found: expected {self.root}/celeba/img_align_celeba/ and "
                f"{self.root}/celeba/list_eval_partition.txt. Download 'Align&Cropped Images' and the partition "
                "file from the CelebA site (mmlab.ie.cuhk.edu.hk/projects/CelebA.html), unpack them there, "
                "or set data.root to the folder that has them"
            )
        files = []
        for line in (base / "list_eval_partition.txt").read_text().split("\n"):
            parts = line.split()
            if len(parts) == 2 and (self.split == "all" or parts[1] == self.SPLITS[self.split]):
                files.append(base / "img_align_celeba" / parts[0])
        missing = [f for f in files if not f.is_file()]
        if missing:
            log.warning("%d images listed in list_eval_partition.txt are missing", len(missing))
            files = [f for f in files if f.is_file()]
        if not files:
            raise DataNotFoundError(f"no CelebA images of split {self.split!r} under {base}/img_align_celeba")
        return files, [0] * len(files)
