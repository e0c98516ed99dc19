"""Every model and data module offers the surfaces (ganforge.surfaces) its kind promises, and
only those: callbacks and scripts decide what applies by these checks."""

from __future__ import annotations

import pytest
from conftest import compose_cfg
from hydra.utils import get_class
from test_configs import GROUPS

from ganforge.surfaces import (
    GaussianMixture,
    ImageReference,
    ImagesWithLabels,
    LabelledData,
    NoiseToSamples,
    PairedImages,
    SuperResolver,
    class_offers,
)
from ganforge.train import build

SR_MODELS = {"srresnet", "srgan"}
SR_DATA = {"sr_folder", "sr_photos"}


@pytest.mark.parametrize("name", GROUPS["model"])
def test_each_model_is_a_noise_model_or_a_super_resolver(tmp_path, name):
    cfg = compose_cfg(tmp_path, [f"model={name}"])
    model = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=10)
    sr = name in SR_MODELS
    assert isinstance(model, SuperResolver) is sr and isinstance(model, NoiseToSamples) is not sr
    assert class_offers(get_class(cfg.model._target_), SuperResolver) is sr  # the check made before building
    if not sr:
        assert model.evaluation_ready in (True, False)


@pytest.mark.parametrize("name", GROUPS["data"])
def test_each_data_module_offers_its_kind(tmp_path, name):
    extra = [f"data.root={tmp_path}"] if name in ("image_folder", "sr_folder") else []
    dm = build(compose_cfg(tmp_path, [f"data={name}", *extra]).data, "data")
    assert isinstance(dm, GaussianMixture) is (name in ("ring8", "grid25"))
    assert isinstance(dm, PairedImages) is (name in SR_DATA)
    assert isinstance(dm, ImageReference) is (name not in ("ring8", "grid25", *SR_DATA))
    assert isinstance(dm, ImagesWithLabels) is isinstance(dm, ImageReference)
    if name in ("mnist", "fashion_mnist"):
        assert isinstance(dm, LabelledData) and len(dm.class_names) == 10
