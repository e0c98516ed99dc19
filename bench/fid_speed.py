"""Time to score N generated images against cached real statistics: ganforge vs torch-fidelity,
side by side on the same images, device and weights, in the same run.

  python bench/fid_speed.py [--num 500] [--num-real 500] [--batch 50] [--device cuda]
  python bench/fid_speed.py --dry-run      # a few images, seeded random weights (no download)

Both tools read their real statistics from a cache filled before the clock starts, so the timed
part is what an evaluation during training costs: features of the generated images, then FID.
"Generated" images are Fashion-MNIST test images (the scoring cost does not depend on where the
images come from); real ones are training images. Prints ms per image of each, their ratio, the
FID of each and the largest feature difference on the same images. Needs the FID Inception weights
and Fashion-MNIST (GANFORGE_DATA_DIR, ./data or Debian's package), except with --dry-run.
"""
from __future__ import annotations

import argparse
import json
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--num", type=int, default=10_000 if cuda else 500, help="generated images scored")
    parser.add_argument("--num-real", type=int, default=10_000 if cuda else 500)
    parser.add_argument("--batch", type=int, help="default: metrics.batch_size's device default")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--random-weights", action="store_true",
                        help="seeded random weights in the Inception layout (same speed; FID values meaningless)")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of Fashion-MNIST")
    parser.add_argument("--dry-run", action="store_true", help="random images and weights, a few of each")
    args = parser.parse_args()
    import torch_fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from ganforge.metrics.scoring import batch_size_for

    device = torch.device(args.device)
    batch = args.batch or batch_size_for({}, device)
    with tempfile.TemporaryDirectory() as cache:
        weights = None
        if args.dry_run:
            args.num, args.num_real, batch, args.random_weights, args.synthetic = 6, 6, 3, True, True
        if args.random_weights:
            import sys

            sys.path.insert(0, str(ROOT / "tests"))
            from conftest import random_inception_weights

            weights = str(random_inception_weights(Path(cache) / "random-inception.pth"))
        if args.synthetic:
            gen = torch.Generator().manual_seed(0)
            fake = torch.randint(0, 256, (args.num, 1, 28, 28), dtype=torch.uint8, generator=gen)
            real = torch.randint(0, 256, (args.num_real, 1, 28, 28), dtype=torch.uint8, generator=gen)
        else:
            fake, real = fashion_images(args.num, args.num_real)
        extractor = InceptionFeatures(weights).to(device)
        real_feats = real_features(real, "bench-fashion-train", None, extractor, cache, batch, device)
        fidelity_args = dict(input2=Uint8Images(real), input2_cache_name="bench_real", cache_root=cache, fid=True,
                             cuda=device.type == "cuda", batch_size=batch, verbose=False, save_cpu_ram=True,
                             feature_extractor_weights_path=weights)
        torch_fidelity.calculate_metrics(input1=Uint8Images(fake[:batch]), **fidelity_args)  # fills its cache
        extract(extractor, batched(fake[:batch], batch), device)  # warm-up (cuDNN autotune, oneDNN)

        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        feats, logits = extract(extractor, batched(fake, batch), device)
        metrics = ImageMetrics(real_feats)
        ours = metrics.compute(feats, which=("fid",))["fid"]
        sync()
        ours_s = time.perf_counter() - start

        start = time.perf_counter()
        theirs = torch_fidelity.calculate_metrics(input1=Uint8Images(fake), **fidelity_args)
        theirs = theirs["frechet_inception_distance"]
        sync()
        theirs_s = time.perf_counter() - start

        # The same images through torch-fidelity's network as it is: the features must agree.
        network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights)
        subset = fake[: min(len(fake), 2 * batch)]
        with torch.no_grad():
            reference = torch.cat([network(b.expand(-1, 3, -1, -1).to(device))[0].cpu()
                                   for b in batched(subset, batch)])
        feature_rel = float((feats[: len(subset)] - reference).abs().max() / reference.abs().max())

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    ours_ms, theirs_ms = 1000 * ours_s / args.num, 1000 * theirs_s / args.num
    fid_rel = abs(ours - theirs) / max(abs(theirs), 1e-12)
    print(f"{args.num} generated vs {len(real)} cached real images, batch {batch}, {name}, "
          f"{torch.get_num_threads()} threads")
    print(f"ganforge       {ours_s:8.2f} s  {ours_ms:7.1f} ms/image  FID {ours:.4f}")
    print(f"torch-fidelity {theirs_s:8.2f} s  {theirs_ms:7.1f} ms/image  FID {theirs:.4f}")
    print(f"speed-up ganforge vs torch-fidelity: {theirs_s / ours_s:.2f}x")
    print(f"FID relative difference: {fid_rel:.2e}; largest feature difference / largest feature: {feature_rel:.2e}")
    print(f"FID-10k at this rate: {ours_ms / 6:.1f} min (torch-fidelity {theirs_ms / 6:.1f})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "device": name, "num": args.num, "num_real": len(real), "batch": batch, "threads": torch.get_num_threads(),
            "ganforge_ms_per_image": ours_ms, "torch_fidelity_ms_per_image": theirs_ms, "speedup": theirs_s / ours_s,
            "fid_ganforge": ours, "fid_torch_fidelity": theirs, "fid_rel_diff": fid_rel,
            "feature_rel_diff": feature_rel, "random_weights": args.random_weights, "synthetic": args.synthetic},
            indent=2) + "\n")


if __name__ == "__main__":
    main()
