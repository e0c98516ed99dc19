"""Why ganforge serves in-memory sets with its own batch stream instead of a torch DataLoader.

Measures batches per second of ``InMemoryBatches`` against ``torch.utils.data.DataLoader`` over
the same uint8 images (per-sample conversion to [-1, 1], default collate), in the same run, and
prints the ratio. Usage: python bench/data_throughput.py [--n 60000] [--batch 64] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, Dataset

from ganforge.data.stream import InMemoryBatches, uint8_to_unit


class PerSample(Dataset):
    """What a plain Dataset over the same tensors does: one index, one conversion per sample."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return uint8_to_unit(self.images[i]), self.labels[i]


def batches_per_second(loader, max_batches: int) -> float:
    start = time.perf_counter()
    count = 0
    for _ in range(2):  # two epochs' worth or max_batches, whichever first
        for _batch in loader:
            count += 1
            if count >= max_batches:
                return count / (time.perf_counter() - start)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    args = parser.parse_args()
    images = torch.randint(0, 256, (args.n, 1, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (args.n,))

    ours = batches_per_second(InMemoryBatches(images, labels, args.batch, to_sample=uint8_to_unit), args.batches)
    print(f"InMemoryBatches                       {ours:9.1f} batches/s  (reference)")
    for workers in args.workers:
        loader = DataLoader(PerSample(images, labels), batch_size=args.batch, shuffle=True, drop_last=True,
                            num_workers=workers, persistent_workers=workers > 0)
        theirs = batches_per_second(loader, args.batches)
        print(f"DataLoader(num_workers={workers})               {theirs:9.1f} batches/s  "
              f"ratio ours/theirs = {ours / theirs:.1f}x")


if __name__ == "__main__":
    main()
