"""The decode-once cache of an image set: one raw uint8 file of rows (N, C, H, W) plus a JSON
sidecar (cache key, count, row shape, labels), so sets larger than memory are read row by row.

Writing streams chunks into a temporary file, which is renamed when complete; the sidecar is
written last (also by rename), so a decode killed at any point leaves no sidecar and the next
run decodes again instead of trusting half a file.

Rows are read with ``os.preadv`` into a preallocated batch rather than through ``mmap``: mapped
pages count in the process's resident memory, while pread leaves them in the kernel's page cache,
which caches just as well but can be reclaimed, so the process stays within its memory budget.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.files import atomic_path, write_text_atomic

log = logging.getLogger(__name__)
SIDECAR_VERSION = 1


class MappedImages:
    """Read-only rows of a finished cache file: ``len``, ``shape`` and indexing by an int, a
    slice or an index tensor/array (rows come back as a uint8 tensor, in the order asked)."""

    def __init__(self, path: Path, count: int, row_shape: tuple[int, ...]) -> None:
        self.path, self.count, self.row_shape = Path(path), int(count), tuple(row_shape)
        self.row_bytes = math.prod(self.row_shape)
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked worker opens its own descriptor
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __len__(self) -> int:
        return self.count

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.count, *self.row_shape))

    ndim = property(lambda self: 1 + len(self.row_shape))
    dtype = torch.uint8

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, int):
            return self.gather(np.array([index]))[0]
        if isinstance(index, slice):
            return self.gather(np.arange(self.count)[index])
        return self.gather(np.asarray(index, dtype=np.int64).reshape(-1))

    def gather(self, rows: np.ndarray) -> Tensor:
        """Rows ``rows`` (any order, repeats allowed): read in file order, one ``preadv`` per run of
        consecutive rows, straight into the output buffer."""
        if len(rows) and (rows.min() < 0 or rows.max() >= self.count):
            raise IndexError(f"row index out of range for {self.count} rows")
        out = np.empty((len(rows), self.row_bytes), dtype=np.uint8)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        fd = self._file()
        start = 0
        while start < len(rows):
            end = start + 1
            while end < len(rows) and sorted_rows[end] == sorted_rows[end - 1] + 1:
                end += 1
            buffers = [out[order[i]] for i in range(start, end)]
            offset = int(sorted_rows[start]) * self.row_bytes
            expected = (end - start) * self.row_bytes
            if os.preadv(fd, buffers, offset) != expected:
                raise OSError(f"{self.path} is shorter than its sidecar says; delete it to decode again")
            start = end
        return torch.from_numpy(out.reshape(len(rows), *self.row_shape))

    def load_all(self) -> Tensor:
        """The whole set in memory (sets within ``data.max_memory_gb``)."""
        data = np.fromfile(self.path, dtype=np.uint8, count=self.count * self.row_bytes)
        return torch.from_numpy(data.reshape(self.count, *self.row_shape))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


def release_freed_memory() -> None:
    """Give freed heap memory back to the system (glibc only; a no-op elsewhere). glibc keeps freed
    buffers of a few MiB in the heap (its dynamic mmap/trim thresholds let it hold up to 64 MiB),
    so without this a decode's resident memory would creep towards that instead of one chunk."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def open_cache(path: Path, key: str) -> tuple[MappedImages, Tensor] | None:
    """The finished cache at ``path`` for ``key``, or None when it is missing, was left
    unfinished (no sidecar), belongs to other settings or is shorter than its sidecar says."""
    sidecar = sidecar_of(path)
    if not sidecar.is_file() or not path.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text())
        count, row_shape = int(meta["count"]), tuple(int(s) for s in meta["row_shape"])
        labels = torch.tensor(meta["labels"], dtype=torch.long)
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring the unreadable cache sidecar %s (%s); decoding again", sidecar, err)
        return None
    if meta.get("key") != key or meta.get("version") != SIDECAR_VERSION or len(labels) != count:
        return None
    if path.stat().st_size < count * math.prod(row_shape):
        log.warning("ignoring the truncated image cache %s; decoding again", path)
        return None
    return MappedImages(path, count, row_shape), labels


def remove_leftovers(path: Path) -> None:
    """Temporary files of earlier writes of ``path`` that were killed before they could clean up."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        stale.unlink(missing_ok=True)
    for stale in path.parent.glob(f".{sidecar_of(path).name}.tmp-*"):
        stale.unlink(missing_ok=True)


def write_cache(path: Path, key: str, row_shape: tuple[int, ...],
                chunks: Iterable[tuple[Tensor, Tensor]]) -> tuple[MappedImages, Tensor]:
    """Stream ``(uint8 images, labels)`` chunks into the cache at ``path``; memory use is one
    chunk, whatever the set's size. Returns the finished cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    sidecar_of(path).unlink(missing_ok=True)  # an older cache of this name stops being valid now
    count, labels = 0, []
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as out:
            for images, chunk_labels in chunks:
                if tuple(images.shape[1:]) != tuple(row_shape) or images.dtype != torch.uint8:
                    raise ValueError(f"cache rows must be uint8 {row_shape}, got {images.dtype} {tuple(images.shape)}")
                out.write(memoryview(images.contiguous().numpy()).cast("B"))  # no copy
                labels.append(chunk_labels.long())
                count += len(images)
                del images
                release_freed_memory()
            out.flush()
            os.fsync(out.fileno())
    label_tensor = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    meta = {"version": SIDECAR_VERSION, "key": key, "count": count, "row_shape": list(row_shape),
            "labels": label_tensor.tolist()}
    write_text_atomic(sidecar_of(path), json.dumps(meta))
    return MappedImages(path, count, row_shape), label_tensor
