"""Every config in conf/ composes, and its objects instantiate."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import CONF, ROOT, compose_cfg
from hydra.utils import instantiate

from ganforge.surfaces import SuperResolver
from ganforge.train import build

GROUPS = {g: sorted(p.stem for p in (CONF / g).glob("*.yaml")) for g in
          ("model", "data", "trainer", "logger", "callbacks", "experiment", "debug")}
IMAGE_DATA = ["fashion_mnist", "mnist", "cifar10", "celeba", "image_folder"]


def test_the_groups_the_readme_promises_exist():
    assert {"gan", "dcgan"} <= set(GROUPS["model"])
    assert set(IMAGE_DATA + ["ring8", "grid25"]) <= set(GROUPS["data"])
    assert {"default", "cpu", "gpu", "ddp"} <= set(GROUPS["trainer"])
    assert {"wandb", "tensorboard", "csv", "none"} <= set(GROUPS["logger"])


@pytest.mark.parametrize("name", GROUPS["data"])
def test_data_configs_instantiate(tmp_path, name):
    extra = [f"data.root={tmp_path}"] if name in ("image_folder", "sr_folder") else []
    cfg = compose_cfg(tmp_path, [f"data={name}", *extra])
    dm = build(cfg.data, "data")
    assert len(dm.sample_shape) in (1, 3) and dm.batch_size > 0


@pytest.mark.parametrize("name", GROUPS["model"])
def test_model_configs_instantiate(tmp_path, name):
    cfg = compose_cfg(tmp_path, [f"model={name}"])
    model = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=10, run_length=1000)
    if isinstance(model, SuperResolver):  # SRResNet / SRGAN: x4 by default
        assert model.super_resolve(torch.zeros(2, 3, 8, 8)).shape == (2, 3, 32, 32)
        optimizers = model.configure_optimizers()
        if model.hparams.get("lr_drop"):  # SRGAN: the drop halfway through the adversarial phase
            optimizers, schedulers = optimizers
            assert len(schedulers) == 2
        assert len(optimizers) == 2 if model.adversarial else isinstance(optimizers, torch.optim.Optimizer)
        return
    assert model.generate(n=2).shape == (2, 1, 32, 32)
    assert len(model.configure_optimizers()) == 2


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks"])
def test_trainer_logger_callback_configs_instantiate(tmp_path, group, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    for option in GROUPS[group]:
        cfg = compose_cfg(tmp_path, [f"{group}={option}"])
        node = cfg[group]
        if group == "trainer":
            if node.accelerator == "gpu":
                continue  # instantiating a GPU trainer needs a GPU; composition is what we check here
            assert instantiate(node, logger=False)
        else:
            for item in (node or {}).values():
                if item:
                    assert instantiate(item) is not None


@pytest.mark.parametrize("name", GROUPS["experiment"] + [f"debug:{d}" for d in GROUPS["debug"]])
def test_experiment_and_debug_presets_compose(tmp_path, name):
    override = f"debug={name[6:]}" if name.startswith("debug:") else f"experiment={name}"
    cfg = compose_cfg(tmp_path, [override])
    assert cfg.trainer.max_steps == -1  # the run length is g_iters, counted by the loop itself
    if cfg.g_iters is None:  # epoch-based presets: Lucic et al.'s budget is at most 20 epochs
        assert 1 <= cfg.trainer.max_epochs <= 20
    dm = build(cfg.data, "data")
    build(cfg.model, "model", sample_shape=list(dm.sample_shape), num_classes=dm.num_classes)


@pytest.mark.parametrize(("overrides", "group", "task_callbacks"), [
    ([], "images", {"samples", "evaluation"}),
    (["data=ring8", "model=gan"], "points", {"samples", "mode_coverage"}),
    (["experiment=grid25_sngan"], "points", {"samples", "mode_coverage"}),
    (["data=sr_folder", "model=srgan"], "super_resolution", {"sr_validation"}),
    (["data=ring8", "callbacks=common"], "common", set()),  # the command line wins over the data's choice
])
def test_each_data_kind_brings_its_callbacks_group(tmp_path, overrides, group, task_callbacks):
    cfg = compose_cfg(tmp_path, overrides, keep_hydra=True)
    assert cfg.hydra.runtime.choices.callbacks == group
    common = {"model_checkpoint", "divergence", "model_summary", "progress_bar"}
    assert set(cfg.callbacks) == common | task_callbacks


@pytest.mark.parametrize(("data", "overrides", "message"), [
    ("ring8", ["model=gan", "callbacks=images"],
     r"^callbacks.evaluation: needs image data with reference images, and Toy2DDataModule is not one; 2-D runs "
     r"take callbacks=points"),
    ("sr_folder", ["model=srresnet", "callbacks=images", "++callbacks.evaluation=null"],
     r"^callbacks.samples: needs a model that generates samples from noise, and SRGAN is not one; "
     r"super-resolution runs take callbacks=super_resolution"),
    ("mnist", ["model=dcgan", "callbacks=points"],
     r"^callbacks.mode_coverage: needs 2-D mixture data \(data=ring8 or data=grid25\), and TorchvisionImages"),
    ("ring8", ["model=gan", "callbacks=super_resolution"], r"^callbacks.sr_validation: needs a super-resolution model"),
])
def test_a_callbacks_group_for_another_task_is_refused_before_training(tmp_path, data_root, data, overrides,
                                                                       message):
    from conftest import data_overrides, make_image_files

    from ganforge.errors import GanforgeError
    from ganforge.train import run

    if data == "sr_folder":
        make_image_files(tmp_path / "photos", 6, size=(64, 64))
        data_args = ["data=sr_folder", f"data.root={tmp_path / 'photos'}", "data.crop=32", "data.batch_size=2",
                     "data.val_images=2", "data.val_crop=32"]
    else:
        data_args = data_overrides(data, data_root)
    cfg = compose_cfg(tmp_path, ["trainer=cpu", "logger=none", *data_args, *overrides])
    with pytest.raises(GanforgeError, match=message):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_run_length_and_checkpoints_count_generator_iterations(tmp_path):
    cfg = compose_cfg(tmp_path, ["g_iters=100", "model.n_critic=5"])
    assert cfg.trainer.max_steps == -1 and cfg.trainer.max_epochs == -1  # nothing derived from n_critic
    assert cfg.callbacks.model_checkpoint.every_n_g_iters == cfg.checkpoint_every


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"})


def test_unknown_option_in_a_group_lists_the_available_ones(tmp_path):
    out = _cli("model=stylegan9", cwd=tmp_path)
    assert out.returncode != 0
    assert "Could not find 'model/stylegan9'" in out.stderr
    assert "Available options in 'model'" in out.stderr and "dcgan" in out.stderr


@pytest.mark.parametrize(("overrides", "message"), [
    (["g_iters=0"], "g_iters must be a whole number >= 1 or null, got 0"),
    (["model.n_critic=0"], "model.n_critic must be a whole number >= 1, got 0"),
    (["model.ema_decay=1.5"], "model.ema_decay must be a number > 0 and < 1 or null, got 1.5"),
    (["model=wgan", "model.clip_value=0"], "model.clip_value must be a number > 0 or null, got 0"),
    (["model.optimizer_d.lr=abc"], "model.optimizer_d.lr must be a number or null, got 'abc'"),
    (["data.batch_size=big"], "data.batch_size must be a whole number, got 'big'"),
    (["model.generator.base_width=8.5"], "model.generator.base_width must be a whole number, got 8.5"),
    (["trainer.max_epochs=x"], "trainer.max_epochs must be a whole number or null, got 'x'"),
    (["model.optimizer_g.betas=[0.5]"], r"model.optimizer_g.betas must be a list of 2 values, each a number"),
    (["+model.generator.hiden=3"], "model.generator.hiden: DCGANGenerator has no setting 'hiden'"),
    (["callbacks.samples.every_n_g_iters=ten"], "callbacks.samples.every_n_g_iters must be a whole number"),
    (["model=gan", "data=ring8", "model.augment=[color]"], r"DiffAugment\) works on images only"),
    (["data.batch_size=0"], "data.batch_size must be a whole number >= 1, got 0"),
    (["data.resolution=2"], "data.resolution must be a whole number >= 4, got 2"),
    (["data=celeba", "data.split=val"], "data.split must be train, valid, test or all, got 'val'"),
    (["model=gan", "data=ring8", "data.num_classes=3"], "ring8 has 8 modes: data.num_classes must be 0 or 8"),
    (["model=lsgan", "+model.loss_kwargs.margin=1"], r"loss 'least_squares' takes no argument\(s\) \['margin'\]"),
    (["data=mnist", "data.fit=stretch"], "data.fit must be one of resize, pad, got 'stretch'"),
    (["model.discriminator.norm=instance"],
     "DCGANDiscriminator norm must be one of batch, layer, none, got 'instance'"),
    (["model=gan", "model.generator.output=sigmoid"], "MLPGenerator output must be auto, tanh or linear"),
    (["experiment=grid25_gan", "model.generator.init_std=0"], "init_std must be a positive number, got 0"),
    (["experiment=grid25_gan", "model.discriminator.init_std=wide"],
     "model.discriminator.init_std must be a number or null, got 'wide'"),
    (["model=gan", "data=ring8", "callbacks.samples.every_n_g_iters=0"],
     "callbacks.samples.every_n_g_iters must be positive or null, got 0"),
])
def test_bad_settings_fail_before_training_with_their_message(tmp_path, overrides, message):
    from ganforge.errors import GanforgeError
    from ganforge.train import run

    cfg = compose_cfg(tmp_path, ["trainer=cpu", "logger=none", *overrides])
    with pytest.raises(GanforgeError, match=message):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_run_is_named_after_its_experiment_when_one_is_chosen(tmp_path):
    assert compose_cfg(tmp_path, ["experiment=ring8_wgan_gp", "seed=2"]).run_name == "ring8_wgan_gp_s2"
    assert compose_cfg(tmp_path, ["model=gan", "data=ring8"]).run_name == "gan_ring8_s0"


@pytest.mark.parametrize("script", ["train.py", "evaluate.py", "sample.py", "upscale.py"])
def test_help_lists_the_groups_a_user_chooses_from_and_not_the_building_blocks(tmp_path, script):
    out = subprocess.run([sys.executable, str(ROOT / script), "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    groups = out.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    listed = {line.split(":")[0] for line in groups.splitlines() if ": " in line}
    assert {"model", "data", "experiment", "trainer", "metrics/extractor"} <= listed
    assert not {"model/base", "experiment/base", "wandb_sweeps", "hydra", "hydra/help"} & listed


def _every_shipped_choice() -> list[list[str]]:
    conf = ROOT / "conf"
    points = ("ring8", "grid25")
    return ([[f"experiment={p.stem}"] for p in sorted((conf / "experiment").glob("*.yaml"))]
            + [[f"model={p.stem}"] for p in sorted((conf / "model").glob("*.yaml"))]
            + [[f"data={p.stem}", "model=gan" if p.stem in points else "model=dcgan"]
               for p in sorted((conf / "data").glob("*.yaml"))]
            + [[f"{group}={p.stem}"] for group in ("logger", "trainer", "launcher", "hparams_search", "debug")
               for p in sorted((conf / group).glob("*.yaml"))]
            + [["metrics/extractor=random_conv"]])


def test_every_shipped_config_passes_the_schema(tmp_path):
    """The schema pass (constructor signatures) refuses no preset the project ships."""
    from ganforge.config import check_settings

    for overrides in _every_shipped_choice():
        check_settings(compose_cfg(tmp_path, overrides), "train")
