"""Shuffled batches over samples held in memory (or read from a cache file), with exact
mid-epoch resume.

Why not a DataLoader: decoded sets need no workers, and indexing whole batches avoids a Python
call per sample (bench/data_throughput.py measures the difference). The stream is *sized*, so
Lightning does not prefetch from it, and it has ``state_dict``/``load_state_dict``, so Lightning
stores its position in the checkpoint and a resumed run sees exactly the batches it would have
seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from ganforge.errors import GanforgeError, SettingError


def uint8_to_unit(x: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


class InMemoryBatches:
    """Yields ``(to_sample(samples[idx]), labels[idx])`` in a permutation fixed by (seed, epoch).
    ``to_sample`` defaults to identity: DataModules convert after the batch reached the device.

    Each rank takes every ``world_size``-th index of the permutation, so ranks see disjoint data.
    The last incomplete batch is dropped (GAN steps assume equal real and fake batch sizes).
    """

    def __init__(
        self,
        samples: Tensor,
        labels: Tensor,
        batch_size: int,
        seed: int = 0,
        to_sample: Callable[[Tensor], Tensor] | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(samples) != len(labels):
            raise SettingError(f"{len(samples)} samples but {len(labels)} labels")
        per_rank = len(samples) // world_size
        if per_rank < batch_size:
            raise GanforgeError(
                f"the dataset has {len(samples)} samples, fewer than one batch of {batch_size} per device "
                f"({world_size} devices); lower data.batch_size or add data"
            )
        self.samples, self.labels = samples, labels
        self.batch_size, self.seed, self.to_sample = batch_size, seed, to_sample
        self.rank, self.world_size = rank, world_size
        self.epoch, self.batch = 0, 0

    def __len__(self) -> int:
        return (len(self.samples) // self.world_size) // self.batch_size

    def _permutation(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(len(self.samples), generator=generator)
        return perm[self.rank :: self.world_size]

    def _start_pass(self) -> Tensor:
        # A finished pass rolls over here, when the next one starts, not after the last yield:
        # Lightning stops a sized iterable after len() batches without asking for one more, so
        # code after the loop would never run and every second epoch would be empty.
        if self.batch >= len(self):
            self.epoch, self.batch = self.epoch + 1, 0
        return self._permutation()

    def _indices(self, perm: Tensor, batch: int) -> Tensor:
        return perm[batch * self.batch_size : (batch + 1) * self.batch_size]

    def _read(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        # index_select, not samples[idx]: advanced indexing gathers uint8 image rows several times
        # slower (bench/data_throughput.py --mapped, the in-memory row).
        batch = self.samples.index_select(0, idx) if isinstance(self.samples, Tensor) else self.samples[idx]
        return (self.to_sample(batch) if self.to_sample else batch), self.labels[idx]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        perm = self._start_pass()
        while self.batch < len(self):
            idx = self._indices(perm, self.batch)
            self.batch += 1
            yield self._read(idx)

    def state_dict(self) -> dict[str, int]:
        """The position: the batch after the last one yielded (a prefetched batch is not counted)."""
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])


class PrefetchedBatches(InMemoryBatches):
    """The same batches in the same order as ``InMemoryBatches`` (same permutation, same
    checkpointed position, so the same exact resume), for samples read from disk
    (``MappedImages``): a background thread reads the next batch while the current one trains,
    and pins it when CUDA is there, so its copy to the GPU can overlap too. File reads release
    the GIL, so the thread runs beside the training step."""

    def _read(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        samples, labels = super()._read(idx)
        if torch.cuda.is_available():
            samples, labels = samples.pin_memory(), labels.pin_memory()
        return samples, labels

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        perm = self._start_pass()
        with ThreadPoolExecutor(1, thread_name_prefix="ganforge-prefetch") as reader:
            pending = reader.submit(self._read, self._indices(perm, self.batch)) if self.batch < len(self) else None
            while pending is not None:
                self.batch += 1
                ahead = self._indices(perm, self.batch)
                current = pending.result()
                pending = reader.submit(self._read, ahead) if self.batch < len(self) else None
                yield current
