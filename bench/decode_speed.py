"""Decode rate of a folder of images: the in-memory path (the set decoded into memory) beside the
decode-once cache path under a memory budget several times smaller than the set (many chunks),
each with one decoding worker and with ``--workers``. Each case runs in a fresh child process that
has already used torch's OpenMP pool, as ``train.py`` has when it decodes.

    python bench/decode_speed.py                      # 1,500 synthetic 256 px PNGs
    python bench/decode_speed.py --root <folder> --resolution 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHILD = """
import json, sys, time, torch
torch.randn(512, 512) @ torch.randn(512, 512)  # the OpenMP pool is running, as in train.py
from ganforge.data.folders import ImageFolderImages
root, cache, resolution, workers, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
kwargs = dict(resolution=resolution, channels=3, num_workers=workers)
if budget != "none":
    kwargs.update(cache_dir=cache, max_memory_gb=float(budget))
start = time.perf_counter()
dm = ImageFolderImages(root, **kwargs)
dm.setup()
seconds = time.perf_counter() - start
print(json.dumps({"images": len(dm.samples), "seconds": seconds, "storage": type(dm.samples).__name__}))
"""


def make_folder(folder: Path, count: int, size: int) -> None:
    """Smooth random images (gradients plus noise), so PNG compression is closer to photographs than
    pure noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    for i in range(count):
        base = rng.random(3, dtype=np.float32)[None, None, :] * ramp[:, None, None] * ramp[None, :, None]
        noise = rng.normal(0, 0.05, (size, size, 3)).astype(np.float32)
        Image.fromarray((np.clip(base + noise, 0, 1) * 255).astype(np.uint8)).save(folder / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="a folder of images (default: a synthetic set)")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-fraction", type=float, default=1 / 3,
                        help="memory budget of the cache path as a fraction of the decoded set")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "images"
            make_folder(root, args.count, args.resolution)
        count = sum(1 for p in root.rglob("*") if p.is_file())
        budget = count * 3 * args.resolution**2 * args.budget_fraction / 2**30
        print(f"{count} files in {root}, {args.resolution} px; cache budget {budget:.3f} GiB "
              f"({args.budget_fraction:g} of the decoded set)")
        rates: dict[str, float] = {}
        for workers in sorted({1, args.workers}):
            for name, case_budget in (("in memory", "none"), ("cache, under budget", repr(budget))):
                cache = Path(tmp) / f"cache-{workers}-{len(rates)}"
                out = subprocess.run([sys.executable, "-c", CHILD, str(root), str(cache), str(args.resolution),
                                      str(workers), case_budget], capture_output=True, text=True, timeout=1800)
                if out.returncode:
                    raise SystemExit(f"{name}, {workers} worker(s) failed:\n{out.stderr[-2000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                rate = result["images"] / result["seconds"]
                rates[f"{name}, {workers} worker(s)"] = rate
                print(f"{name:20s} workers={workers}  {result['storage']:12s} {result['images']} images in "
                      f"{result['seconds']:.1f} s: {rate:.0f} img/s")
        if args.workers > 1:
            both = [rates[f"{n}, {args.workers} worker(s)"] / rates[f"{n}, 1 worker(s)"]
                    for n in ("in memory", "cache, under budget")]
            print(f"{args.workers} workers vs 1: {both[0]:.2f}x in memory, {both[1]:.2f}x through the cache")
        top = rates[f"cache, under budget, {args.workers} worker(s)"] / rates[f"in memory, {args.workers} worker(s)"]
        print(f"cache path vs in-memory path at {args.workers} worker(s): {top:.2f}x")


if __name__ == "__main__":
    main()
