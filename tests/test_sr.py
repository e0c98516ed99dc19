"""SRGAN / SRResNet: nets, the SR metrics, the paired data, training (both phases, from a
checkpoint), the VGG54 content loss and its offline failure, and upscale.py."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, compose_cfg
from PIL import Image

from ganforge.data.sr import SRFolder
from ganforge.errors import GanforgeError
from ganforge.metrics.sr import psnr_ssim_y, rgb_to_y
from ganforge.models.loading import load_module
from ganforge.nets.srresnet import SRDiscriminator, SRResNet, bicubic_downscale, bicubic_upscale
from ganforge.train import run
from ganforge.upscale import upscale_tiled

TINY_SR = ["model.generator.num_blocks=2", "model.generator.width=8", "data.crop=32", "data.batch_size=4",
           "data.num_workers=0", "data.val_images=2", "data.val_crop=32", "data.crops_per_epoch=16",
           "callbacks.sr_validation.every_n_g_iters=2", "callbacks.sr_validation.lpips=false"]
TINY_D = ["model.discriminator.width=8", "model.discriminator.dense=16"]


def make_photos(folder: Path, n: int = 6, size: tuple[int, int] = (64, 80), seed: int = 0) -> Path:
    """Smooth random colour images (upsampled noise): structure that bicubic does not reproduce exactly."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3)).astype(np.uint8)
        Image.fromarray(small).resize((size[1], size[0]), Image.BICUBIC).save(folder / f"photo{i}.png")
    return folder


def sr_train(tmp_path: Path, model: str, *extra: str, photos: Path | None = None):
    """Train in ``tmp_path`` on ``photos`` (default ``tmp_path/photos``)."""
    photos = photos or tmp_path / "photos"
    cfg = compose_cfg(tmp_path, [f"model={model}", "data=sr_folder", f"data.root={photos}", *TINY,
                                 "logger=csv", *TINY_SR, *(TINY_D if model == "srgan" else []), *extra])
    run(cfg)
    return cfg


def csv_columns(run_dir: Path) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    for row in csv.DictReader(open(run_dir / "csv" / "metrics.csv")):
        for key, value in row.items():
            if value != "":
                columns.setdefault(key, []).append(float(value))
    return columns


# ---- nets and helpers ------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 4])
def test_shapes(scale):
    g = SRResNet(scale=scale, width=8, num_blocks=2)
    assert g(torch.randn(2, 3, 12, 10)).shape == (2, 3, 12 * scale, 10 * scale)
    d = SRDiscriminator(width=8, dense=16)
    assert d(torch.randn(2, 3, 24, 24)).shape == (2,)
    assert d(torch.randn(2, 3, 96, 96)).shape == (2,)


def test_paper_generator_size():
    """16 blocks of 64 channels, x4: the paper's SRResNet has about 1.5 M parameters."""
    params = sum(p.numel() for p in SRResNet(scale=4).parameters())
    assert 1.4e6 < params < 1.7e6


def test_bicubic_skip_starts_as_bicubic():
    lr = torch.rand(1, 3, 10, 12) * 2 - 1
    assert torch.allclose(SRResNet(scale=2, width=8, num_blocks=1, bicubic_skip=True)(lr), bicubic_upscale(lr, 2))


def test_bicubic_down_then_shapes_and_refusal():
    hr = torch.rand(3, 16, 24) * 2 - 1
    assert bicubic_downscale(hr, 4).shape == (3, 4, 6)
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(bicubic_downscale(flat, 4), torch.full((1, 3, 4, 4), 0.3), atol=1e-5)
    with pytest.raises(GanforgeError, match="not divisible"):
        bicubic_downscale(torch.zeros(3, 15, 16), 4)


def test_y_channel_bt601():
    def level(v: int) -> torch.Tensor:
        return torch.full((1, 1, 1, 1), v / 127.5 - 1.0)

    white, black = torch.ones(1, 3, 1, 1), -torch.ones(1, 3, 1, 1)
    red = torch.cat([level(255), level(0), level(0)], dim=1)
    assert rgb_to_y(white).item() == pytest.approx(235.0, abs=1e-4)
    assert rgb_to_y(black).item() == pytest.approx(16.0, abs=1e-4)
    assert rgb_to_y(red).item() == pytest.approx(16.0 + 65.481, abs=1e-4)
    assert rgb_to_y(level(128)).item() == pytest.approx(16.0 + 219.0 * 128 / 255, abs=1e-4)  # grey input


def test_psnr_ssim_known_values():
    hr = torch.full((2, 3, 32, 32), 100 / 127.5 - 1)
    sr = torch.full((2, 3, 32, 32), 110 / 127.5 - 1)  # 10 grey levels up: Y moves by 219 * 10 / 255
    psnr, ssim = psnr_ssim_y(sr, hr, border=4)
    assert psnr.shape == (2,)
    assert psnr[0].item() == pytest.approx(20 * math.log10(255 / (219 * 10 / 255)), abs=1e-3)
    same_psnr, same_ssim = psnr_ssim_y(hr, hr, border=4)
    assert math.isinf(same_psnr[0].item()) and same_ssim[0].item() == pytest.approx(1.0)
    assert 0.9 < ssim[0].item() < 1.0  # a luminance shift only
    # The border is shaved: damage confined to it changes nothing.
    damaged = hr.clone()
    damaged[..., :4, :] = 1.0
    assert math.isinf(psnr_ssim_y(damaged, hr, border=4)[0][0].item())


def test_tiled_upscale_equals_whole_image():
    torch.manual_seed(0)
    g = SRResNet(scale=2, width=8, num_blocks=1).eval()  # receptive radius 4 + 2 + 1 + 1 + 1 (+ 2 at HR) < 12 px
    lr = torch.rand(1, 3, 37, 53) * 2 - 1
    with torch.no_grad():
        whole = g(lr)
        tiled = upscale_tiled(g, lr, 2, tile=32, overlap=12)
        seamy = upscale_tiled(g, lr, 2, tile=32, overlap=0)
    assert tiled.shape == whole.shape == (1, 3, 74, 106)
    assert torch.allclose(tiled, whole, atol=1e-5)
    assert not torch.allclose(seamy, whole, atol=1e-3)  # without context the tile borders differ


# ---- data ------------------------------------------------------------------------------------
def test_sr_folder_pairs_holdout_and_small_images(tmp_path):
    photos = make_photos(tmp_path / "photos", n=6)
    Image.new("RGB", (20, 20)).save(photos / "tiny.png")  # smaller than the crop
    (photos / "notes.png").write_text("not an image")
    dm = SRFolder(root=str(photos), scale=4, crop=32, batch_size=4, val_images=2, val_crop=32, crops_per_epoch=8,
                  num_workers=0)
    expected = r"skipped 1 images smaller than a crop \(32 px for training, 32 px for validation\) and 1 unreadable"
    with pytest.warns(UserWarning, match=expected):
        dm.setup("fit")
    train_files, val_files = dm.split_files()
    assert not set(train_files) & set(val_files) and len(val_files) == 2
    lr, hr = next(iter(dm.train_dataloader()))
    assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 3, 32, 32)
    assert torch.allclose(lr, bicubic_downscale(hr, 4), atol=1e-5)
    assert hr.min() >= -1 and hr.max() <= 1
    v_lr, v_hr = dm.val_pairs[0]
    assert v_lr.shape == (3, 8, 8) and v_hr.shape == (3, 32, 32)


def test_sr_folder_refusals(tmp_path):
    photos = make_photos(tmp_path / "photos", n=2)
    with pytest.raises(GanforgeError, match="multiple of data.scale"):
        SRFolder(root=str(photos), scale=4, crop=30)
    with pytest.raises(GanforgeError, match="leaves none to train on"):
        SRFolder(root=str(photos), val_images=2, crop=32).setup("fit")
    with pytest.raises(GanforgeError, match="at least data.crop=96"):
        SRFolder(root=str(photos), val_images=1, crop=96).setup("fit")
    with pytest.raises(GanforgeError, match="set data.root"):
        SRFolder(root=None)


# ---- training --------------------------------------------------------------------------------
def test_srresnet_then_srgan_from_its_checkpoint(tmp_path):
    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path / "a", "srresnet", "g_iters=4", photos=tmp_path / "photos")
    run_dir = Path(cfg.paths.output_dir)
    logged = csv_columns(run_dir)
    for key in ("train/loss_pixel", "val/psnr", "val/ssim", "val/psnr_bicubic", "val/psnr_gain"):
        assert key in logged and all(math.isfinite(v) for v in logged[key]), key
    assert len(logged["val/psnr_bicubic"]) == 1  # the baseline is logged once
    panels = sorted((run_dir / "panels").glob("*.png"))
    assert len(panels) == 2 * 2  # 2 evaluations (g 2, g 4) x 2 validation images
    assert Image.open(panels[0]).size == (4 * 32 + 5 * 2, 32 + 2 * 2)  # LR | bicubic | SR | HR
    assert not (run_dir / "samples").exists()  # no noise-sample grids for SR models
    srresnet_ckpt = run_dir / "checkpoints" / "last.ckpt"

    # The adversarial phase starts from the SRResNet weights.
    from hydra.utils import instantiate

    cfg_gan = compose_cfg(tmp_path / "b", ["model=srgan", *TINY_SR, *TINY_D, "model.content_loss=pixel",
                                           f"model.generator_ckpt={srresnet_ckpt}", "data=sr_folder",
                                           f"data.root={tmp_path / 'photos'}"])
    module = instantiate(cfg_gan.model, sample_shape=[3, 32, 32])
    saved = torch.load(srresnet_ckpt, weights_only=True)["state_dict"]
    for key, value in module.generator.state_dict().items():
        assert torch.equal(value, saved[f"generator.{key}"]), key

    cfg2 = sr_train(tmp_path / "b", "srgan", "g_iters=4", "model.content_loss=pixel",
                    f"model.generator_ckpt={srresnet_ckpt}", photos=tmp_path / "photos")
    logged = csv_columns(Path(cfg2.paths.output_dir))
    assert {"train/loss_d", "train/loss_content", "train/loss_adversarial"} <= set(logged)
    ckpt = torch.load(Path(cfg2.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 8 and ckpt["counters"]["d_steps"] == 4  # D + G step per iteration


def test_pretrain_steps_then_adversarial_in_one_run(tmp_path):
    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path, "srgan", "g_iters=5", "model.pretrain_steps=3", "model.content_loss=vgg54",
                   "model.vgg_weights=null")  # random VGG weights: the loss path runs without a download
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"] == {"g_iters": 5, "d_steps": 2, "images_seen": 20, "critic_steps": 0}
    assert ckpt["global_step"] == 3 + 2 * 2
    assert not any(k.startswith("_vgg") or "vgg" in k for k in ckpt["state_dict"])  # VGG is not saved


def test_srgan_generator_step_computes_no_discriminator_gradients(tmp_path):
    """SRGAN takes GAN's discriminator step and generator update: the generator's loss runs with
    only the generator's parameters requiring gradients, so each discriminator parameter gets one
    gradient per iteration (its own step), not two."""
    from ganforge.models.srgan import SRGAN

    make_photos(tmp_path / "photos")
    gradients: list[int] = []  # [gradients computed for discriminator parameters, their number]
    original = SRGAN.training_step

    def spy(self, batch, batch_idx):
        if not gradients:
            params = list(self.discriminator.parameters())
            gradients.extend([0, len(params)])
            for p in params:
                p.register_hook(lambda grad: gradients.__setitem__(0, gradients[0] + 1))
        original(self, batch, batch_idx)

    SRGAN.training_step = spy
    try:
        cfg = sr_train(tmp_path, "srgan", "g_iters=3", "model.content_loss=pixel")
    finally:
        SRGAN.training_step = original
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"]["d_steps"] == 3
    assert gradients[1] > 0 and gradients[0] == 3 * gradients[1]


def test_resume_continues_counters(tmp_path):
    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path / "a", "srresnet", "g_iters=2", photos=tmp_path / "photos")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    cfg2 = sr_train(tmp_path / "b", "srresnet", "g_iters=4", f"ckpt_path={last}", photos=tmp_path / "photos")
    ckpt = torch.load(Path(cfg2.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"]["g_iters"] == 4 and ckpt["global_step"] == 4


def test_vgg_loss_fails_before_training_without_weights(tmp_path, monkeypatch):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    make_photos(tmp_path / "photos")
    with pytest.raises(GanforgeError, match=r"VGG19 ImageNet weights .* model.content_loss=pixel"):
        sr_train(tmp_path, "srgan", "g_iters=2")
    assert not list(tmp_path.rglob("*.ckpt"))


def test_model_and_data_kinds_must_match(tmp_path):
    make_photos(tmp_path / "photos")
    with pytest.raises(GanforgeError, match="use data=sr_folder"):
        run(compose_cfg(tmp_path, ["model=srresnet", "data=ring8", *TINY]))
    with pytest.raises(GanforgeError, match="use model=srresnet or model=srgan"):
        run(compose_cfg(tmp_path, ["model=dcgan", "data=sr_folder", f"data.root={tmp_path / 'photos'}", *TINY]))
    with pytest.raises(GanforgeError, match="longer than the run"):
        sr_train(tmp_path, "srgan", "g_iters=2", "model.pretrain_steps=5", "model.content_loss=pixel")


def test_generator_ckpt_of_another_scale_is_refused(tmp_path):
    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path / "a", "srresnet", "g_iters=1", "data.scale=2", photos=tmp_path / "photos")
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(GanforgeError, match="trained for x2, this run is x4"):
        sr_train(tmp_path / "b", "srgan", "g_iters=1", "model.content_loss=pixel", f"model.generator_ckpt={ckpt}",
                 photos=tmp_path / "photos")


def test_upscale_cli_on_an_odd_sized_image(tmp_path):
    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path / "a", "srresnet", "g_iters=1", photos=tmp_path / "photos")
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)).save(inputs / "odd.png")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(inputs / "grey.jpg")
    env = {"PATH": "/usr/bin:/bin", "GANFORGE_ROOT": str(tmp_path)}
    out = subprocess.run([sys.executable, str(ROOT / "upscale.py"), f"ckpt_path={ckpt}", f"input={inputs / 'odd.png'}",
                          f"output={tmp_path / 'big.png'}", "tile=24", "tile_overlap=6", "device=cpu"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Image.open(tmp_path / "big.png").size == (53 * 4, 37 * 4)
    # A folder in, a folder out (grey JPEG -> RGB PNG).
    out = subprocess.run([sys.executable, str(ROOT / "upscale.py"), f"ckpt_path={ckpt}", f"input={inputs}",
                          f"output={tmp_path / 'out'}", "device=cpu"], capture_output=True, text=True, timeout=120,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Image.open(tmp_path / "out" / "grey.png").size == (120, 80)
    bad = subprocess.run([sys.executable, str(ROOT / "upscale.py"), f"ckpt_path={ckpt}", "input=/nonexistent.png",
                          f"output={tmp_path / 'x.png'}"], capture_output=True, text=True, timeout=120, env=env,
                         cwd=tmp_path)
    assert bad.returncode == 2 and "input=/nonexistent.png does not exist" in bad.stderr


def test_loaded_module_super_resolves_and_sample_scripts_refuse_it(tmp_path):
    from omegaconf import OmegaConf

    from ganforge.evaluate import run as evaluate_run
    from ganforge.sample import run as sample_run

    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path, "srgan", "g_iters=1", "model.content_loss=pixel", "data.scale=2")
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    module = load_module(ckpt)
    assert module.super_resolve(torch.zeros(1, 3, 9, 7)).shape == (1, 3, 18, 14)
    for script, entry in (("evaluate.py", evaluate_run), ("sample.py", sample_run)):
        args = OmegaConf.create({"ckpt_path": str(ckpt), "device": "cpu", "num_images": 1, "grid_size": 4,
                                 "interpolation": {"rows": 0, "steps": 2}, "out_dir": str(tmp_path / "s"), "seed": 0})
        with pytest.raises(GanforgeError, match=f"{script} works on models that generate from noise"):
            entry(args)


# ---- real photographs (scikit-image's bundled images) ----------------------------------------
HELD_OUT = ("astronaut", "coffee", "chelsea", "rocket")
TRAIN = ("hubble_deep_field", "immunohistochemistry", "retina", "camera", "coins", "moon")


def save_skimage(names: tuple[str, ...], folder: Path) -> Path:
    data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) holds the test photographs")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    return folder


def test_bicubic_x4_baseline_on_real_photos(tmp_path):
    val = save_skimage(HELD_OUT, tmp_path / "val")
    dm = SRFolder(root=str(val), val_root=str(val), scale=4, crop=96, val_crop=None, num_workers=0)
    dm.setup("fit")
    scores = [psnr_ssim_y(bicubic_upscale(lr[None], 4), hr[None], 4) for lr, hr in dm.val_pairs]
    psnr = [float(p) for p, _ in scores]
    assert all(math.isfinite(p) and 20.0 < p < 35.0 for p in psnr), psnr
    assert all(0.5 < float(s) < 0.95 for _, s in scores)


@pytest.mark.slow
def test_short_srresnet_training_beats_bicubic_on_held_out_photos(tmp_path):
    """200 iterations on CPU of a small SRResNet in its residual-over-bicubic form (bicubic_skip:
    the plain paper net needs thousands of steps to reach bicubic), scored on held-out photos."""
    train_dir, val_dir = save_skimage(TRAIN, tmp_path / "train"), save_skimage(HELD_OUT, tmp_path / "val")
    cfg = compose_cfg(tmp_path, [
        "model=srresnet", "data=sr_folder", f"data.root={train_dir}", f"data.val_root={val_dir}", "data.val_crop=null",
        "data.crop=48", "data.batch_size=16", "data.num_workers=1", *TINY, "logger=csv", "g_iters=200",
        "model.generator.num_blocks=4", "model.generator.width=32", "model.generator.bicubic_skip=true",
        "model.optimizer_g.lr=1e-3", "callbacks.sr_validation.every_n_g_iters=200",
        "callbacks.sr_validation.lpips=false", "seed=0"])
    run(cfg)
    logged = csv_columns(Path(cfg.paths.output_dir))
    psnr, bicubic = logged["val/psnr"][-1], logged["val/psnr_bicubic"][0]
    assert psnr > bicubic + 0.1, (psnr, bicubic)
    assert logged["val/ssim"][-1] > logged["val/ssim_bicubic"][0]


def test_lpips_is_logged_when_its_backbone_weights_load(tmp_path, monkeypatch):
    """Offline the AlexNet weights are missing (LPIPS skipped with a warning, as the other tests
    show); with weights available (here: a random AlexNet standing in for the download) val/lpips
    and val/lpips_bicubic are logged."""
    import torchvision
    import torchvision.models._api as api

    monkeypatch.setattr(api, "load_state_dict_from_url",
                        lambda *a, **k: torchvision.models.alexnet(weights=None).state_dict())
    make_photos(tmp_path / "photos")
    cfg = sr_train(tmp_path, "srresnet", "g_iters=2", "callbacks.sr_validation.lpips=true")
    logged = csv_columns(Path(cfg.paths.output_dir))
    assert all(0.0 <= v <= 2.0 for v in logged["val/lpips"]) and len(logged["val/lpips_bicubic"]) == 1


# ---- every refusal says what to do ---------------------------------------------------------
def test_sr_folder_bad_settings(tmp_path):
    photos = make_photos(tmp_path / "photos", n=3)
    with pytest.raises(GanforgeError, match="data.scale must be 2, 4 or 8, got 3"):
        SRFolder(root=str(photos), scale=3)
    with pytest.raises(GanforgeError, match=r"data.val_crop \(30\) must be a multiple of data.scale \(4\)"):
        SRFolder(root=str(photos), val_crop=30)
    with pytest.raises(GanforgeError, match=r"data.batch_size \(32\) must be positive and at most data.crops_per"):
        SRFolder(root=str(photos), batch_size=32, crops_per_epoch=16)
    with pytest.raises(GanforgeError, match="need 0.0 GiB, more than data.max_memory_gb=1e-06"):
        SRFolder(root=str(photos), crop=32, val_images=1, val_crop=32, max_memory_gb=1e-6).setup("fit")
    with pytest.raises(GanforgeError, match="no validation photo is large enough"):
        SRFolder(root=str(photos), crop=32, val_images=1, val_crop=256).setup("fit")
    with pytest.raises(GanforgeError, match="is not a folder; point data.root"):
        SRFolder(root=str(photos), val_root=str(tmp_path / "missing"), crop=32).setup("fit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match="no image files"):
        SRFolder(root=str(tmp_path / "empty")).setup("fit")


def test_srgan_bad_settings(tmp_path):
    from ganforge.train import build

    def model(*overrides: str):
        cfg = compose_cfg(tmp_path, ["model=srgan", "model.generator.num_blocks=1", "model.generator.width=8",
                                     *TINY_D, *overrides])
        return build(cfg.model, "model", sample_shape=[3, 32, 32])

    with pytest.raises(GanforgeError, match="model.content_loss must be one of pixel, vgg54, got 'l1'"):
        model("model.content_loss=l1")
    with pytest.raises(GanforgeError, match="model.adversarial=true needs model.discriminator"):
        model("model.discriminator=null")
    with pytest.raises(GanforgeError, match="model.pretrain_steps must be 0 or more, got -1"):
        model("model.pretrain_steps=-1")
    with pytest.raises(GanforgeError, match="unexpected keyword argument 'n_critic'"):  # SRGAN has no critic schedule
        model("+model.n_critic=5")
    with pytest.raises(GanforgeError, match="model.generator_ckpt=.*missing.ckpt does not exist"):
        model(f"model.generator_ckpt={tmp_path / 'missing.ckpt'}")
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    with pytest.raises(GanforgeError, match="junk.ckpt is not a checkpoint"):
        model(f"model.generator_ckpt={tmp_path / 'junk.ckpt'}")
    torch.save({"state_dict": {"generator.w": torch.zeros(1)}, "hyper_parameters": {}}, tmp_path / "gan.ckpt")
    with pytest.raises(GanforgeError, match="is not a checkpoint of model=srresnet or model=srgan"):
        model(f"model.generator_ckpt={tmp_path / 'gan.ckpt'}")
    wide = model("model.generator.width=16", "model.content_loss=pixel")
    torch.save({"state_dict": {f"generator.{k}": v for k, v in wide.generator.state_dict().items()},
                "hyper_parameters": {"scale": 4}}, tmp_path / "wide.ckpt")
    with pytest.raises(GanforgeError, match="has another generator architecture than model.generator"):
        model(f"model.generator_ckpt={tmp_path / 'wide.ckpt'}")
    srgan = model("model.content_loss=pixel")
    with pytest.raises(GanforgeError, match=r"model.scale=4 but data.scale=2"):
        srgan.before_fit(type("Data", (), {"scale": 2})(), srgan)


def test_upscale_bad_inputs(tmp_path):
    from omegaconf import OmegaConf

    from ganforge.upscale import run as upscale_run

    make_photos(tmp_path / "photos")
    sr_ckpt = Path(sr_train(tmp_path / "a", "srresnet", "g_iters=1", photos=tmp_path / "photos").paths.output_dir)
    sr_ckpt = sr_ckpt / "checkpoints" / "last.ckpt"
    image = tmp_path / "photos" / "photo0.png"
    (tmp_path / "notes.txt").write_text("x")

    def upscale(**kwargs):
        args = {"ckpt_path": str(sr_ckpt), "input": str(image), "output": str(tmp_path / "o.png"), "device": "cpu",
                "tile": 256, "tile_overlap": 48, **kwargs}
        return upscale_run(OmegaConf.create(args))

    with pytest.raises(GanforgeError, match="set input=<image or folder> and output=<file.png or folder>"):
        upscale(output=None)
    with pytest.raises(GanforgeError, match="tile must be a whole number >= 16, got 8"):
        upscale(tile=8)
    with pytest.raises(GanforgeError, match="notes.txt is not an image file"):
        upscale(input=str(tmp_path / "notes.txt"))
    with pytest.raises(GanforgeError, match="upscale.py writes PNG files; name it \\*.png"):
        upscale(output=str(tmp_path / "o.jpg"))
    with pytest.raises(GanforgeError, match="is a folder, so output must be a folder"):
        upscale(input=str(tmp_path / "photos"), output=str(image))
    with pytest.raises(GanforgeError, match=r"tile \(32\) must be larger than twice tile_overlap \(16\)"):
        upscale(tile=32, tile_overlap=16)
    from conftest import TINY_NETS

    gan = compose_cfg(tmp_path / "g", ["model=gan", *TINY_NETS["gan"], "data=ring8", *TINY])
    run(gan)
    with pytest.raises(GanforgeError, match="is a GAN, not a super-resolution model"):
        upscale(ckpt_path=str(Path(gan.paths.output_dir) / "checkpoints" / "last.ckpt"))
