"""FID, KID, IS and precision/recall: known answers on constructed features, the real-statistics
cache, preprocessing, and what happens without weights. No network and no real weights needed."""

from __future__ import annotations

import urllib.error
import warnings

import numpy as np
import pytest
import torch
from conftest import random_inception_weights

from ganforge.errors import GanforgeError
from ganforge.metrics.features import InceptionFeatures, RandomConvFeatures, WeightsUnavailableError, to_uint8_rgb
from ganforge.metrics.images import ImageMetrics, real_features, real_stats_path
from ganforge.metrics.scoring import build_extractor

pytestmark = pytest.mark.filterwarnings("ignore:Inception Score skipped")


def gaussian(n: int, dim: int = 16, shift: float = 0.0, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) * scale + shift


def frechet_by_hand(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), the square root through an
    eigendecomposition of S_a^1/2 S_b S_a^1/2 (symmetric, so numpy's eigh is exact enough)."""
    a64, b64 = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a64.mean(0), b64.mean(0)
    s_a, s_b = np.cov(a64, rowvar=False), np.cov(b64, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)


def test_fid_of_a_set_against_itself_is_zero_and_a_shift_scores_higher():
    real = gaussian(600)
    metrics = ImageMetrics(real, kid_subset_size=200)
    same = metrics.compute(real)
    assert abs(same["fid"]) < 1e-6
    shifted = metrics.compute(gaussian(600, shift=0.5, seed=1))
    # A mean shift of 0.5 in 16 dimensions adds 16 * 0.25 = 4 to the FID (plus sampling noise).
    assert 3.5 < shifted["fid"] < 5.0
    # KID is unbiased over random subsets: about 0 (noise only) for the same set, clearly above for a shift.
    assert abs(same["kid"]) < 0.1 * shifted["kid"]
    further = metrics.compute(gaussian(600, shift=1.0, seed=1))
    assert further["fid"] > shifted["fid"] and further["kid"] > shifted["kid"]


def test_fid_equals_the_frechet_distance_computed_by_hand():
    real, fake = gaussian(500, seed=2), gaussian(400, shift=0.3, scale=1.5, seed=3)
    ours = ImageMetrics(real, kid_subset_size=100).compute(fake)["fid"]
    assert ours == pytest.approx(frechet_by_hand(real, fake), rel=1e-4)


def test_precision_and_recall_on_constructed_sets():
    cluster_a, cluster_b = gaussian(100, dim=8, seed=4), gaussian(100, dim=8, shift=100.0, seed=5)
    real = torch.cat([cluster_a, cluster_b])
    metrics = ImageMetrics(real, kid_subset_size=50)
    exact = metrics.compute(real.clone())
    assert exact["precision"] == 1.0 and exact["recall"] == 1.0
    half_the_modes = metrics.compute(cluster_a.clone())  # every fake is real, half the real set is missed
    assert half_the_modes["precision"] == 1.0 and half_the_modes["recall"] == 0.5
    far = metrics.compute(gaussian(200, dim=8, shift=-1000.0, seed=6))
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    half_junk = metrics.compute(torch.cat([cluster_a, gaussian(100, dim=8, shift=-1000.0, seed=7)]))
    assert half_junk["precision"] == 0.5


def test_inception_score_is_skipped_with_one_warning_when_there_are_no_logits():
    metrics = ImageMetrics(gaussian(50), kid_subset_size=20)
    with pytest.warns(UserWarning, match="Inception Score skipped"):
        scores = metrics.compute(gaussian(50, seed=1), None)
    assert "is" not in scores and set(scores) >= {"fid", "kid", "precision", "recall"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second evaluation stays quiet
        metrics.compute(gaussian(50, seed=2), torch.full((50, 10), float("nan")))


def test_inception_score_of_uniform_and_of_confident_logits():
    metrics = ImageMetrics(gaussian(50), kid_subset_size=20)
    uniform = metrics.compute(gaussian(100, seed=1), torch.zeros(100, 10))
    assert uniform["is"] == pytest.approx(1.0, abs=1e-5)  # no class information
    one_class = torch.full((100, 10), -30.0)
    one_class[:, 3] = 30.0  # confident, but every sample is the same class
    assert metrics.compute(gaussian(100, seed=1), one_class)["is"] == pytest.approx(1.0, abs=1e-4)
    n = 10_000
    confident = torch.full((n, 10), -30.0)
    confident[torch.arange(n), torch.arange(n) % 10] = 30.0  # confident and all classes equally often
    # IS = exp(H(marginal)) per split of 1,000 samples: 10 for exactly balanced splits, a little less
    # for the sampling imbalance of random splits.
    assert 9.8 < metrics.compute(gaussian(n, seed=1), confident)["is"] <= 10.0 + 1e-4


def test_generated_images_are_rounded_to_uint8_and_grey_is_repeated():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.999, 1.0, 2.0]).view(1, 1, 2, 3)
    out = to_uint8_rgb(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 2, 3)
    # (x + 1) * 127.5 rounded: -0.999 -> 0.1275 -> 0, 0 -> 127.5 -> 128 (half to even), 0.999 -> 254.87 -> 255
    assert out[0, 0].flatten().tolist() == [0, 0, 128, 255, 255, 255]
    assert torch.equal(out[0, 0], out[0, 2])


class CountingExtractor(RandomConvFeatures):
    calls = 0

    def forward(self, images):
        CountingExtractor.calls += 1
        return super().forward(images)


def test_real_statistics_are_cached_and_keyed(tmp_path):
    images = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8)
    extractor = CountingExtractor()
    CountingExtractor.calls = 0
    first = real_features(images, "toy-train-1ch-16px", 30, extractor, tmp_path, batch_size=10)
    assert CountingExtractor.calls == 3 and first.shape == (30, extractor.num_features)
    assert real_stats_path(tmp_path, "toy-train-1ch-16px", 30, extractor.name).is_file()
    again = real_features(images, "toy-train-1ch-16px", 30, extractor, tmp_path, batch_size=10)
    assert CountingExtractor.calls == 3  # read from the cache, the network did not run
    assert torch.equal(first, again)
    real_features(images, "toy-train-1ch-16px", 20, extractor, tmp_path, batch_size=10)  # other count
    real_features(images, "toy-test-1ch-16px", 30, extractor, tmp_path, batch_size=10)  # other split
    other = CountingExtractor(seed=1)
    real_features(images, "toy-train-1ch-16px", 30, other, tmp_path, batch_size=10)  # other extractor
    assert CountingExtractor.calls == 3 + 2 + 3 + 3
    assert len(list(tmp_path.glob("*.pt"))) == 4


def test_a_missing_weights_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        InceptionFeatures(weights=str(tmp_path / "nope.pth"))


def test_no_weights_and_no_network_skips_with_a_warning_or_stops_when_required(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    monkeypatch.setattr(fe, "load_state_dict_from_url", offline, raising=False)
    cfg = {"required": False, "extractor": {"_target_": "ganforge.metrics.features.InceptionFeatures"}}
    with pytest.warns(UserWarning, match="image metrics .* are skipped: the FID Inception weights could not be"):
        assert build_extractor(cfg) is None
    with pytest.raises(GanforgeError, match=r"weights-inception-2015-12-05-6726825d.pth .*metrics.required=true"):
        build_extractor({**cfg, "required": True})


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 48, 40), (2, 3, 320, 300)])
def test_inception_features_equal_torch_fidelity_network_on_the_same_weights(tmp_path, shape):
    """The fast path (BatchNorm folded, channels-last, resize as two matrix products) gives
    torch-fidelity's features and unbiased logits, up- and downscaling, grey and RGB."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    weights = str(random_inception_weights(tmp_path / "inception.pth"))
    theirs = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=weights)
    ours = InceptionFeatures(weights=weights)
    ours.train()  # a fixed network: stays in eval mode
    assert not ours.training and not any(m.training for m in ours.modules())
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features, logits = theirs(images.expand(-1, 3, -1, -1) if shape[1] == 1 else images)
        our_features, our_logits = ours(images)
    assert features.abs().max() > 0.1  # not a degenerate network
    assert ((our_features - features).abs().max() / features.abs().max()) < 1e-4
    assert ((our_logits - logits).abs().max() / logits.abs().max()) < 1e-4
