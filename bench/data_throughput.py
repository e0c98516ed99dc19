"""Why ganforge serves in-memory sets with its own batch stream instead of a torch DataLoader, and
what streaming a set larger than ``data.max_memory_gb`` from the cache file costs.

Default: batches per second of ``InMemoryBatches`` against ``torch.utils.data.DataLoader`` over
the same uint8 images (per-sample conversion to [-1, 1], default collate), in the same run, and
the ratio. Usage: python bench/data_throughput.py [--n 60000] [--batch 64] [--workers 0 2]

``--mapped``: a cache file of random images ``--set-gb`` large (4x ``--budget-gb`` by default) at
``--resolution`` px, read by ``PrefetchedBatches`` (the stream for sets over the budget) with the
file's pages dropped from the page cache first (cold) and again once read (warm), against the
whole set in memory with ``InMemoryBatches``; each in its own process, reporting images/s and
that process's peak RSS (VmHWM). Usage: python bench/data_throughput.py --mapped
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def peak_rss_gib() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 2**20


def write_random_cache(path: Path, count: int, resolution: int) -> None:
    from ganforge.data.mapped import write_cache

    shape = (3, resolution, resolution)
    chunk = 4096

    def chunks():
        generator = torch.Generator().manual_seed(0)
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            yield torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator), torch.zeros(n)

    write_cache(path, "bench", shape, chunks())


def measure_stream(path: Path, mode: str, batch: int, batches: int) -> dict[str, float]:
    """Run in a child process: one stream over the cache file, images/s and peak RSS."""
    from ganforge.data.mapped import open_cache
    from ganforge.data.stream import InMemoryBatches, PrefetchedBatches

    images, labels = open_cache(path, "bench")
    if mode == "memory":
        stream = InMemoryBatches(images.load_all(), labels, batch)
    else:
        if mode == "mapped-cold":  # drop the file's pages: every row comes from the disk
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        stream = PrefetchedBatches(images, labels, batch)
        if mode == "mapped-cold":
            batches = min(batches, len(stream))  # one pass: a second would hit the page cache
    rate = batches_per_second(stream, batches)
    return {"img_per_s": rate * batch, "peak_rss_gib": peak_rss_gib()}


def mapped_main(args: argparse.Namespace) -> None:
    row = 3 * args.resolution**2
    count = int(args.set_gb * 2**30 / row)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "set.u8"
        started = time.perf_counter()
        write_random_cache(path, count, args.resolution)
        print(f"{count} random {args.resolution} px RGB images, {count * row / 2**30:.2f} GiB "
              f"(budget {args.budget_gb} GiB), written in {time.perf_counter() - started:.1f} s")
        results = {}
        for mode in ("memory", "mapped-cold", "mapped-warm"):
            child = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(args.batch),
                                    str(args.batches)], capture_output=True, text=True, check=True)
            results[mode] = json.loads(child.stdout.strip().splitlines()[-1])
        reference = results["memory"]["img_per_s"]
        for mode, r in results.items():
            print(f"{mode:12s} {r['img_per_s']:9.0f} img/s  peak RSS {r['peak_rss_gib']:.2f} GiB  "
                  f"ratio to in-memory {r['img_per_s'] / reference:.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, path, batch, batches = sys.argv[2:6]
        print(json.dumps(measure_stream(Path(path), mode, int(batch), int(batches))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    parser.add_argument("--mapped", action="store_true", help="the cache-file stream vs in memory (see above)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--budget-gb", type=float, default=0.25)
    parser.add_argument("--set-gb", type=float, default=None, help="default: 4x --budget-gb")
    parser.add_argument("--dir", default=None, help="where the temporary cache file goes")
    args = parser.parse_args()
    if args.mapped:
        args.set_gb = args.set_gb or 4 * args.budget_gb
        args.batches = max(args.batches, 3000)
        mapped_main(args)
        return
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
