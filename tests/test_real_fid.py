"""ganforge's FID with the real FID Inception weights (seeded offline by
../shared/bin/get-fid-weights; skips without them) against torch-fidelity on the same images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import compose_cfg, real_fashion_root
from hydra.utils import instantiate

WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
COUNT = 200  # per side; the real network takes 0.2-0.4 s per image on a 2-core CPU


class Uint8Images(torch.utils.data.Dataset):
    """What torch-fidelity reads: uint8 (3, H, W) tensors."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].contiguous()


@pytest.mark.slow
def test_fid_on_fashion_mnist_equals_torch_fidelity(tmp_path):
    if not (Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS).is_file():
        pytest.skip(f"FID Inception weights not in {torch.hub.get_dir()}/checkpoints: run "
                    "../shared/bin/get-fid-weights .venv/bin/python")
    found = real_fashion_root()
    if found is None:
        pytest.skip("real Fashion-MNIST not on this machine: run ../shared/bin/get-fashion-mnist <root>")
    import torch_fidelity

    from ganforge.metrics.features import InceptionFeatures
    from ganforge.metrics.images import ImageMetrics, extract, real_features

    data = [f"data.root={tmp_path / 'data'}", f"data.system_dirs=[{found}]"] if found.name == "fashion-mnist" \
        else [f"data.root={found}"]
    cfg = compose_cfg(tmp_path, [*data, "data.download=false"])
    dm = instantiate(cfg.data)
    train = dm.reference_images("train")[:COUNT]
    test = dm.reference_images("test")[:COUNT]
    extractor = InceptionFeatures()
    real = real_features(train, "fashion-train", None, extractor, tmp_path / "cache", batch_size=50)
    fake, _ = extract(extractor, test.split(50))
    ours = ImageMetrics(real, kid_subset_size=100).compute(fake, which=("fid",))["fid"]
    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Images(test), input2=Uint8Images(train), fid=True, cuda=False, batch_size=50, verbose=False,
        save_cpu_ram=True)["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-3), (ours, theirs)
