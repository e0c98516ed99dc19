"""Progressive growing GAN: nets at every stage, the fade-in, the paper's stabilisers, the growth
schedule, resume mid-fade, and a training smoke through several stages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, compose_cfg, data_overrides

from ganforge.errors import GanforgeError
from ganforge.models.progan import GrowthSchedule
from ganforge.nets.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStd,
    PixelNorm,
    ProDiscriminator,
    ProGenerator,
)
from ganforge.train import run

SMALL = {"fmap_base": 64, "fmap_max": 16}


@pytest.mark.parametrize(("channels", "size"), [(1, 32), (3, 64), (3, 128)])
def test_generator_and_discriminator_shapes_at_every_stage(channels, size):
    g, d = ProGenerator(8, (channels, size, size), **SMALL), ProDiscriminator((channels, size, size), **SMALL)
    stages = int(math.log2(size)) - 1
    assert g.num_stages == d.num_stages == stages
    z = torch.randn(4, 8)
    for stage in range(stages):
        for alpha in (0.0, 0.3, 1.0):
            x = g(z, None, stage, alpha)
            assert x.shape == (4, channels, 4 * 2**stage, 4 * 2**stage)
            assert d(x, None, stage, alpha).shape == (4,)


def test_fade_in_blends_the_upsampled_previous_stage_with_the_new_block():
    torch.manual_seed(0)
    g, d = ProGenerator(8, (1, 32, 32), **SMALL), ProDiscriminator((1, 32, 32), **SMALL)
    z = torch.randn(4, 8)
    for stage in range(1, 4):
        previous = g(z, None, stage - 1, 1.0)
        # alpha = 0: exactly the previous stage's output, upsampled
        assert torch.allclose(g(z, None, stage, 0.0), F.interpolate(previous, scale_factor=2, mode="nearest"))
        # alpha = 1: the new block's toRGB alone
        alone = g.to_rgb[stage](g.features(z, stage)[-1])
        assert torch.allclose(g(z, None, stage, 1.0), alone)
        half = g(z, None, stage, 0.5)
        assert torch.allclose(half, 0.5 * alone + 0.5 * F.interpolate(previous, scale_factor=2, mode="nearest"),
                              atol=1e-6)
        # the discriminator mirrors it: alpha = 0 sees the image through the previous stage
        x = torch.randn(4, 1, 4 * 2**stage, 4 * 2**stage)
        assert torch.allclose(d(x, None, stage, 0.0), d(F.avg_pool2d(x, 2), None, stage - 1, 1.0), atol=1e-6)


def test_equalized_learning_rate_scale_is_hes_constant():
    g, d = ProGenerator(8, (3, 32, 32), **SMALL), ProDiscriminator((3, 32, 32), **SMALL)
    layers = [m for net in (g, d) for m in net.modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
    assert len(layers) > 10
    linear_outputs = {id(m) for m in g.to_rgb} | {id(d.final[-1])}  # toRGB and the score: gain 1 (no ReLU after)
    for layer in layers:
        fan_in = layer.weight[0].numel()
        gain = 1.0 if id(layer) in linear_outputs else 2.0
        if layer is g.input[1]:
            gain = 2.0 / 16  # the 4x4 "deconvolution" from z: He's constant times sqrt(2)/4, as in the paper's code
        assert layer.scale == pytest.approx(math.sqrt(gain / fan_in))
    big = EqualizedConv2d(64, 64, 3)
    assert big.weight.std().item() == pytest.approx(1.0, abs=0.02)  # stored as N(0, 1)
    assert big.scale == pytest.approx(math.sqrt(2.0 / (64 * 9)))


def test_minibatch_std_appends_one_channel_with_the_group_std():
    # 8 samples, groups of 4 -> 2 groups; sample i belongs to group i % 2 (the official layout).
    # Even samples hold 0, 1, 2, 3 (population std 1.118), odd ones 0, 2, 4, 6 (std 2.236).
    values = torch.tensor([(i % 2 + 1) * (i // 2) for i in range(8)], dtype=torch.float32)
    x = values.view(8, 1, 1, 1).expand(8, 3, 2, 2).contiguous()
    out = MinibatchStd(group_size=4)(x)
    assert out.shape == (8, 4, 2, 2)
    assert torch.equal(out[:, :3], x)
    expected = torch.tensor([math.sqrt(1.25) if i % 2 == 0 else math.sqrt(5.0) for i in range(8)])
    assert torch.allclose(out[:, 3].flatten(1).mean(1), expected, atol=1e-4)
    assert torch.allclose(out[:, 3].flatten(1).std(1), torch.zeros(8))  # constant over the map


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    y = PixelNorm()(torch.randn(2, 16, 3, 3) * 7)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(2, 3, 3), atol=1e-4)


def test_growth_schedule_changes_stage_at_the_right_kimg():
    s = GrowthSchedule(num_stages=4, fade_kimg=2.0, stable_kimg=1.0)
    assert s.at(0.0) == (0, 1.0) and s.at(0.999) == (0, 1.0)
    assert s.at(1.0) == (1, 0.0) and s.at(2.0) == (1, 0.5) and s.at(3.0) == (1, 1.0) and s.at(3.9) == (1, 1.0)
    assert s.at(4.0) == (2, 0.0) and s.at(7.0) == (3, 0.0) and s.at(8.5) == (3, 0.75)
    assert s.at(9.0) == (3, 1.0) and s.at(1e6) == (3, 1.0)
    assert s.total_kimg() == 10.0


def progan(tmp_path: Path, data_root: Path, *extra: str, evaluate: bool = False):
    # batch 16 -> 0.016 kimg per step; stages of 0.1 kimg fade and 0.1 stable
    tiny = [o for o in TINY if not (evaluate and o == "++callbacks.evaluation=null")]
    cfg = compose_cfg(tmp_path, ["model=progan", *data_overrides("mnist", data_root), *tiny, "data.batch_size=16",
                                 "model.z_dim=8", "model.generator.fmap_base=32", "model.generator.fmap_max=8",
                                 "model.discriminator.fmap_base=32", "model.discriminator.fmap_max=8",
                                 "model.fade_kimg=0.1", "model.stable_kimg=0.1", "logger=csv", "checkpoint_every=100",
                                 "model.batch_sizes={4: 16, 8: 16, 16: 8, 32: 8}", *extra])
    run(cfg)
    out = Path(cfg.paths.output_dir)
    return out, torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.slow
def test_training_grows_through_stages_and_grids_stay_at_the_final_size(tmp_path, data_root):
    import csv

    from PIL import Image

    out, ckpt = progan(tmp_path, data_root, "g_iters=20", "callbacks.samples.every_n_g_iters=5")
    rows = [r for r in csv.DictReader(open(out / "csv" / "metrics.csv")) if r.get("progress/stage")]
    stages = sorted({float(r["progress/stage"]) for r in rows})
    assert stages[:2] == [0.0, 1.0] and len(stages) >= 3  # 4x4, then 8x8, then 16x16 fading in
    assert any(0.0 < float(r["progress/alpha"]) < 1.0 for r in rows)
    stage_grids = sorted(p.name for p in (out / "samples").glob("stage-*.png"))
    # one grid as each stage ended (4 and 8 px before the nets grew), one for the stage training ended in
    assert {"stage-4px.png", "stage-8px.png", "stage-16px.png"} <= set(stage_grids)
    assert len(stage_grids) == len(stages)
    for name in ("g0000001.png", "g0000020.png", *stage_grids):  # every grid at 32 px: 8 columns of 34 px + 2
        assert Image.open(out / "samples" / name).size == (8 * 34 + 2, 8 * 34 + 2)
    assert ckpt["hyper_parameters"]["fade_kimg"] == 0.1 and ckpt["ganforge_class"].endswith("ProGAN")


def test_resume_mid_fade_restores_stage_alpha_and_optimizers_exactly(tmp_path, data_root):
    _, straight = progan(tmp_path / "straight", data_root, "g_iters=14")
    half_dir, _ = progan(tmp_path / "half", data_root, "g_iters=14",
                         "callbacks.model_checkpoint.every_n_g_iters=7")
    mid = torch.load(half_dir / "checkpoints" / "g0000007.ckpt", weights_only=True)
    kimg = mid["counters"]["images_seen"] / 1000
    stage, alpha = GrowthSchedule(4, 0.1, 0.1).at(kimg)
    assert stage == 1 and 0.0 < alpha < 1.0  # the saved run stopped mid-fade
    _, resumed = progan(tmp_path / "resumed", data_root, "g_iters=14",
                        f"ckpt_path={half_dir / 'checkpoints' / 'g0000007.ckpt'}")
    for key in straight["state_dict"]:
        assert torch.equal(straight["state_dict"][key], resumed["state_dict"][key]), key
    for a, b in zip(straight["optimizer_states"], resumed["optimizer_states"]):
        for pa, pb in zip(a["state"].values(), b["state"].values()):
            assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    assert straight["counters"] == resumed["counters"]


def test_sizes_that_cannot_grow_and_batches_over_the_data_batch_are_refused(tmp_path, data_root):
    with pytest.raises(GanforgeError, match="power-of-two size"):
        progan(tmp_path / "a", data_root, "data.resolution=24", "data.fit=resize")
    with pytest.raises(GanforgeError, match=r"model.batch_sizes \{32: 64\} exceed data.batch_size=16"):
        progan(tmp_path / "b", data_root, "model.batch_sizes={4: 16, 32: 64}")
    with pytest.raises(GanforgeError, match=r"model.fade_kimg must be >= 0 and model.stable_kimg > 0, got 0.1, 0"):
        progan(tmp_path / "c", data_root, "model.stable_kimg=0")


@pytest.mark.slow
def test_image_metrics_only_at_the_final_resolution_after_the_fade(tmp_path, data_root):
    import csv

    # schedule: 4 px until 0.1 kimg; 8 and 16 px fade + stable 0.2 kimg each; 32 px fades in until 0.6 kimg
    out, _ = progan(tmp_path, data_root, "g_iters=64", "metrics/extractor=random_conv",
                    "metrics.num_samples=16", "metrics.num_real=32", "metrics.kid_subset_size=8",
                    "metrics.batch_size=8", f"metrics.cache_dir={tmp_path / 'cache'}",
                    "callbacks.evaluation.every_kimg=0.05", evaluate=True)
    rows = list(csv.DictReader(open(out / "csv" / "metrics.csv")))
    scored = [float(r["progress/kimg"]) for r in rows if r.get("val/fid")]
    assert scored and min(scored) >= 0.6  # nothing scored while growing
    assert GrowthSchedule(4, 0.1, 0.1).at(min(scored)) == (3, 1.0)
