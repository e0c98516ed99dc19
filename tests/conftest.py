"""Shared fixtures: compose configs like train.py does, and tiny synthetic stand-ins for every
dataset written in its real on-disk format (so the real loading code runs)."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image

import ganforge.config  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small nets and batches so every smoke run takes a few seconds on a 2-core CPU. Each data kind
# brings its own callbacks group; `++` sets the sample cadence and switches image metrics off
# where the group has them and adds an inert entry (no `_target_`, not built) where it has not.
TINY = [
    "trainer=cpu", "logger=none", "g_iters=3", "checkpoint_every=2",
    "++callbacks.samples.every_n_g_iters=2", "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false", "++callbacks.evaluation=null",
]
_TINY_DCGAN = ["model.generator.base_width=8", "model.discriminator.base_width=8"]
TINY_NETS = {
    "gan": ["model.generator.hidden=[32,32]", "model.discriminator.hidden=[32,32]"],
    "sngan": ["model.generator.width=16", "model.discriminator.width=16"],
    **{m: _TINY_DCGAN for m in ("dcgan", "cgan", "lsgan", "wgan_gp")},
    "wgan": [*_TINY_DCGAN, "model.critic_warmup.n_critic=6"],  # the warm-up, at a smoke test's size
}


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def compose_cfg(tmp_path: Path, overrides: list[str], keep_hydra: bool = False) -> DictConfig:
    """The config train.py would get for ``overrides``, with paths under ``tmp_path`` (with the
    ``hydra`` node when ``keep_hydra``, as a launcher sees it)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}", *overrides],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    if not keep_hydra:
        with open_dict(cfg):
            del cfg.hydra
    return cfg


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool = False) -> None:
    """MNIST's idx format, as torchvision reads it."""
    folder.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    ext = ".gz" if gz else ""
    with opener(folder / f"{prefix}-images-idx3-ubyte{ext}", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.astype(np.uint8).tobytes())
    with opener(folder / f"{prefix}-labels-idx1-ubyte{ext}", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def make_idx_set(folder: Path, n: int = 64, gz: bool = False) -> None:
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(folder, prefix, rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n), gz=gz)


def make_image_files(folder: Path, n: int, size: tuple[int, int] = (40, 48), ext: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        p = folder / f"{i:06d}.{ext}"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A data root holding tiny MNIST, Fashion-MNIST and CelebA stand-ins in their real layouts."""
    root = tmp_path / "data"
    make_idx_set(root / "MNIST" / "raw")
    make_idx_set(root / "FashionMNIST" / "raw")
    celeba = root / "celeba"
    files = make_image_files(celeba / "img_align_celeba", 24, size=(178, 218), ext="jpg")
    (celeba / "list_eval_partition.txt").write_text(
        "".join(f"{p.name} {0 if i < 20 else 1}\n" for i, p in enumerate(files)))
    make_image_files(root / "folder", 20)
    return root


@pytest.fixture
def fake_cifar(monkeypatch):
    """CIFAR-10 stand-in: torchvision verifies CIFAR's files by MD5, so the loader is replaced."""
    from types import SimpleNamespace

    from ganforge.data.torchvision_sets import TorchvisionImages

    rng = np.random.default_rng(2)
    fake = SimpleNamespace(data=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
                           targets=list(rng.integers(0, 10, 64)))
    monkeypatch.setattr(TorchvisionImages, "_dataset", lambda self, train=None: fake)
    return fake


def data_overrides(name: str, root: Path) -> list[str]:
    """Point a data config at the stand-ins and shrink it."""
    common = [f"data={name}", f"data.root={root}", "data.batch_size=8"]
    if name == "image_folder":
        return common[:1] + [f"data.root={root / 'folder'}", "data.batch_size=8", "data.resolution=32"]
    if name == "celeba":
        return common + ["data.resolution=32", "data.num_workers=1"]
    if name in ("ring8", "grid25"):
        return [f"data={name}", "data.batch_size=16", "data.num_points=512"]
    if name == "fashion_mnist":
        return common + ["data.system_dirs=[]", "data.download=false"]
    return common + ["data.download=false"]


NO_FASHION = ("real Fashion-MNIST is not on this machine: `make train` (or `python train.py`) downloads it into "
              "./data, or set GANFORGE_DATA_DIR to a folder holding FashionMNIST/raw/")
NO_FID_WEIGHTS = ("the FID Inception weights are not in {hub}/checkpoints: the first `make train` with network "
                  "downloads weights-inception-2015-12-05-6726825d.pth there")


def real_fashion_root() -> Path | None:
    """Where real Fashion-MNIST is on this machine (GANFORGE_DATA_DIR, the ./data that `make train`
    fills, or Debian's package), if anywhere."""
    env = os.environ.get("GANFORGE_DATA_DIR")
    if env and (Path(env) / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        return Path(env)
    if os.environ.get("GANFORGE_TEST_NO_SYSTEM_DATA"):  # .ci/run's first pass: a machine without it
        return None
    if (ROOT / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        return ROOT / "data"
    if Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        return Path("/usr/share/datasets/fashion-mnist")
    return None


__all__ = ["compose_cfg", "data_overrides", "make_idx_set", "make_image_files", "real_fashion_root",
           "random_inception_weights", "NO_FASHION", "NO_FID_WEIGHTS", "TINY", "TINY_NETS"]


def random_inception_weights(path: Path, seed: int = 0) -> Path:
    """A weights file in the layout of torch-fidelity's FID Inception network with seeded random
    values (BatchNorm statistics too, so folding them is exercised): both torch-fidelity and
    ganforge load it, so their features can be compared with no download."""
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    torch.manual_seed(seed)
    with mock.patch.object(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None), \
            mock.patch.object(fidelity, "load_state_dict_from_url", lambda *a, **k: {}):
        net = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    state = net.state_dict()
    generator = torch.Generator().manual_seed(seed)
    for name, value in state.items():
        if name.endswith("running_mean"):
            state[name] = torch.randn(value.shape, generator=generator) * 0.1
        elif name.endswith("running_var"):
            state[name] = torch.rand(value.shape, generator=generator) + 0.5
        elif name.endswith("bn.weight"):
            state[name] = torch.rand(value.shape, generator=generator) + 0.5
        elif name.endswith("bn.bias"):
            state[name] = torch.randn(value.shape, generator=generator) * 0.1
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
