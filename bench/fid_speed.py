"""Time to score N generated images against cached real statistics: ganforge vs torch-fidelity,
side by side on the same images, device and weights, in the same run.

  python bench/fid_speed.py [--num 10000] [--num-real 10000] [--batch 200] [--device cuda]

Both tools read their real statistics from a cache filled before the clock starts, so the timed
part is what an evaluation during training costs: features of the generated images, then FID.
"Generated" images are Fashion-MNIST test images (the scoring cost does not depend on where the
images come from); real ones are training images. Needs the FID Inception weights
(../shared/bin/get-fid-weights) and Fashion-MNIST (GANFORGE_DATA_DIR or Debian's package).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import ganforge.config  # noqa: F401
from ganforge.metrics.features import InceptionFeatures
from ganforge.metrics.images import ImageMetrics, batched, extract, real_features

ROOT = Path(__file__).resolve().parents[1]


class Uint8Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images.expand(-1, 3, -1, -1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].contiguous()


def fashion_images(num: int, num_real: int) -> tuple[torch.Tensor, torch.Tensor]:
    data_dir = os.environ.get("GANFORGE_DATA_DIR", str(ROOT / "data"))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=fashion_mnist", f"data.root={data_dir}", "data.download=false",
                                          "paths.output_dir=/tmp", f"paths.root_dir={ROOT}"])
    dm = instantiate(cfg.data)
    test, train = dm.reference_images("test"), dm.reference_images("train")
    repeat = -(-num // len(test))  # more "generated" images than the test split: repeat it
    return test.repeat(repeat, 1, 1, 1)[:num], train[:num_real]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--num", type=int, default=10_000 if cuda else 300, help="generated images scored")
    parser.add_argument("--num-real", type=int, default=10_000 if cuda else 300)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    args = parser.parse_args()
    import torch_fidelity

    fake, real = fashion_images(args.num, args.num_real)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as cache:
        extractor = InceptionFeatures().to(device)
        real_feats = real_features(real, "bench-fashion-train", None, extractor, cache, args.batch, device)
        fidelity_args = dict(input2=Uint8Images(real), input2_cache_name="bench_real", cache_root=cache, fid=True,
                             cuda=device.type == "cuda", batch_size=args.batch, verbose=False, save_cpu_ram=True)
        torch_fidelity.calculate_metrics(input1=Uint8Images(fake[: args.batch]), **fidelity_args)  # fills its cache
        extract(extractor, batched(fake[: args.batch], args.batch), device)  # warm-up (cuDNN autotune)

        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        feats, logits = extract(extractor, batched(fake, args.batch), device)
        metrics = ImageMetrics(real_feats)
        ours = metrics.compute(feats, which=("fid",))["fid"]
        sync()
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        all_four = metrics.compute(feats, logits)
        extra_s = time.perf_counter() - start

        start = time.perf_counter()
        theirs = torch_fidelity.calculate_metrics(input1=Uint8Images(fake), **fidelity_args)
        theirs = theirs["frechet_inception_distance"]
        sync()
        theirs_s = time.perf_counter() - start

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"{args.num} generated vs {len(real)} cached real images, batch {args.batch}, {name}")
    print(f"ganforge       {ours_s:8.2f} s  ({args.num / ours_s:7.1f} img/s)  FID {ours:.4f}")
    print(f"torch-fidelity {theirs_s:8.2f} s  ({args.num / theirs_s:7.1f} img/s)  FID {theirs:.4f}")
    print(f"time ratio ganforge / torch-fidelity: {ours_s / theirs_s:.3f}  (below 1: ganforge faster)")
    print(f"FID relative difference: {abs(ours - theirs) / abs(theirs):.2e}")
    print(f"KID, precision/recall and IS on the same features add {extra_s:.2f} s "
          f"({', '.join(f'{k} {v:.4g}' for k, v in all_four.items() if not k.endswith('_std'))})")


if __name__ == "__main__":
    main()
