"""ganforge's FID with the real FID Inception weights (skips without them) against torch-fidelity
on the same images: FID within 0.1 % (500 real, 250 test images), features within 1e-4."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import NO_FASHION, NO_FID_WEIGHTS, compose_cfg, real_fashion_root
from hydra.utils import instantiate

WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
NUM_REAL, NUM_TEST = 500, 250  # 500 real images behind the statistics; the network costs ~0.1-0.3 s/image


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
        pytest.skip(NO_FID_WEIGHTS.format(hub=torch.hub.get_dir()))
    found = real_fashion_root()
    if found is None:
        pytest.skip(NO_FASHION)
    import torch_fidelity

    from ganforge.metrics.features import InceptionFeatures
    from ganforge.metrics.images import ImageMetrics, extract, real_features

    data = [f"data.root={tmp_path / 'data'}", f"data.system_dirs=[{found}]"] if found.name == "fashion-mnist" \
        else [f"data.root={found}"]
    cfg = compose_cfg(tmp_path, [*data, "data.download=false"])
    dm = instantiate(cfg.data)
    train = dm.reference_images("train")[:NUM_REAL]
    test = dm.reference_images("test")[:NUM_TEST]
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    extractor = InceptionFeatures()
    real = real_features(train, "fashion-train", None, extractor, tmp_path / "cache", batch_size=50)
    fake, _ = extract(extractor, test.split(50))
    ours = ImageMetrics(real, kid_subset_size=100).compute(fake, which=("fid",))["fid"]
    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Images(test), input2=Uint8Images(train), fid=True, cuda=False, batch_size=50, verbose=False,
        save_cpu_ram=True)["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-3), (ours, theirs)
    # Features of the same images from torch-fidelity's network as it is (the fast path folds
    # BatchNorm, runs channels-last and resizes by matrix products).
    network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    with torch.no_grad():
        reference = network(test[:25].expand(-1, 3, -1, -1).contiguous())[0]
    assert float((fake[:25] - reference).abs().max() / reference.abs().max()) < 1e-4
