"""The DataModule base shared by every dataset: samples loaded once, into memory or as rows of a
cache file (``MappedImages``), served by ``InMemoryBatches`` or ``PrefetchedBatches`` (shuffled,
sharded per rank, resumable mid-epoch, the same batches either way)."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
from torch import Tensor

from ganforge.data.mapped import MappedImages
from ganforge.data.stream import InMemoryBatches, PrefetchedBatches, uint8_to_unit
from ganforge.errors import GanforgeError
from ganforge.schema import Annotated, AtLeast, check_arguments


class InMemoryDataModule(L.LightningDataModule):
    """Subclasses implement ``load`` -> (samples, int64 labels); ``to_sample`` maps stored
    samples to model inputs (uint8 images -> [-1, 1] by default), after the device transfer."""

    def __init__(self, sample_shape: Sequence[int], num_classes: int, batch_size: Annotated[int, AtLeast(1)],
                 seed: int) -> None:
        check_arguments(InMemoryDataModule.__init__, locals(), "data")  # ranges: the signature (ganforge.schema)
        super().__init__()
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.num_classes = num_classes
        self.batch_size, self.seed = batch_size, seed
        self.samples: Tensor | MappedImages | None = None
        self.labels: Tensor | None = None
        self._train: InMemoryBatches | None = None

    @staticmethod
    def to_sample(stored: Tensor) -> Tensor:
        return uint8_to_unit(stored)

    def load(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int) -> tuple[Tensor, Tensor]:
        """Stored samples -> model inputs on the device: uint8 images travel (4x fewer bytes than
        float) and are scaled to [-1, 1] where the model runs."""
        samples, labels = batch
        return self.to_sample(samples), labels

    def setup(self, stage: str | None = None) -> None:
        if self.samples is None:
            self.samples, self.labels = self.load()
        if stage == "fit" and len(self.samples) < self.batch_size:  # training needs one whole batch
            raise GanforgeError(f"the dataset has {len(self.samples)} samples, fewer than one batch "
                                f"(data.batch_size={self.batch_size}); lower data.batch_size or add data")

    def train_dataloader(self) -> InMemoryBatches:
        self.setup("fit")
        assert self.samples is not None and self.labels is not None
        if self._train is None:
            trainer = self.trainer
            stream = PrefetchedBatches if isinstance(self.samples, MappedImages) else InMemoryBatches
            self._train = stream(
                self.samples, self.labels, self.batch_size, seed=self.seed,
                rank=trainer.global_rank if trainer else 0, world_size=trainer.world_size if trainer else 1,
            )
        return self._train
