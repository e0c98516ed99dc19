import logging
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import torch
from conftest import make_idx_set, make_image_files

from ganforge.data.folders import CelebAImages, ImageFolderImages
from ganforge.data.images import fit_images, match_channels
from ganforge.data.stream import InMemoryBatches, uint8_to_unit
from ganforge.data.torchvision_sets import TorchvisionImages, seed_idx_files
from ganforge.data.toy2d import Toy2DDataModule, mixture_means, sample_mixture
from ganforge.errors import DataNotFoundError, GanforgeError


def test_pad_keeps_pixels_and_resize_crops():
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    padded = fit_images(x, 32, "pad")
    assert padded.shape == (3, 1, 32, 32)
    assert torch.equal(padded[:, :, 2:30, 2:30], x)
    assert padded[:, :, :2].sum() == 0  # black border = -1 after scaling
    wide = torch.randint(0, 256, (2, 3, 40, 60), dtype=torch.uint8)
    assert fit_images(wide, 32, "resize").shape == (2, 3, 32, 32)
    with pytest.raises(GanforgeError, match="cannot shrink 40x60 images to 32 px; use data.fit=resize"):
        fit_images(wide, 32, "pad")


def test_channel_conversion():
    grey = torch.full((1, 1, 4, 4), 200, dtype=torch.uint8)
    assert torch.equal(match_channels(grey, 3), grey.expand(1, 3, 4, 4))
    rgb = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    rgb[:, 0] = 255
    assert match_channels(rgb, 1).unique().item() == round(0.299 * 255)


def test_stream_scales_shuffles_and_resumes_exactly():
    samples = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 1, 2, 2).contiguous()
    labels = torch.arange(40)
    stream = InMemoryBatches(samples, labels, batch_size=8, seed=3, to_sample=uint8_to_unit)
    assert len(stream) == 5
    epoch0 = list(stream)
    epoch1 = list(stream)
    x, y = epoch0[0]
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert sorted(torch.cat([b[1] for b in epoch0]).tolist()) == list(range(40))
    assert not torch.equal(epoch0[0][1], epoch1[0][1])  # a new permutation each epoch
    # stop after two batches of epoch 1, save, resume in a fresh stream
    again = InMemoryBatches(samples, labels, batch_size=8, seed=3)
    list(again)
    it = iter(again)
    next(it), next(it)
    state = again.state_dict()
    resumed = InMemoryBatches(samples, labels, batch_size=8, seed=3)
    resumed.load_state_dict(state)
    assert [b[1].tolist() for b in resumed] == [b[1].tolist() for b in epoch1[2:]]


def test_stream_ranks_see_disjoint_data():
    samples, labels = torch.zeros(32, 2), torch.arange(32)
    seen = [torch.cat([y for _, y in InMemoryBatches(samples, labels, 4, rank=r, world_size=2)]) for r in (0, 1)]
    assert set(seen[0].tolist()).isdisjoint(seen[1].tolist())
    with pytest.raises(GanforgeError, match="fewer than one batch of 64 per device"):
        InMemoryBatches(samples, labels, 64)


def test_ring8_has_eight_distinct_modes_on_the_unit_circle():
    means, std = mixture_means("ring8")
    assert len(torch.unique(means.round(decimals=4), dim=0)) == 8
    assert torch.allclose(means.norm(dim=1), torch.ones(8))
    assert std == 0.01
    grid, gstd = mixture_means("grid25")
    assert len(grid) == 25 and grid.min() == -4 and grid.max() == 4 and gstd == 0.05
    points, modes = sample_mixture("ring8", 4000, seed=0)
    assert (points - means[modes]).std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.bincount(modes, minlength=8).min() > 400
    dm = Toy2DDataModule("grid25", num_points=256, batch_size=32)
    x, y = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert x.shape == (32, 2) and x.abs().max() > 1  # points are not rescaled
    with pytest.raises(GanforgeError, match="unknown 2-D mixture 'ring7'"):
        Toy2DDataModule("ring7")


def test_fashion_mnist_found_in_a_system_folder(tmp_path):
    system = tmp_path / "debian"
    make_idx_set(system, n=16, gz=True)
    dm = TorchvisionImages("fashion_mnist", str(tmp_path / "root"), resolution=32, channels=1, fit="pad",
                           download=False, system_dirs=[str(system)], batch_size=4)
    dm.setup()
    assert dm.samples.shape == (16, 1, 32, 32) and dm.labels.dtype == torch.long
    assert (tmp_path / "root/FashionMNIST/raw/train-images-idx3-ubyte").is_file()
    assert seed_idx_files(tmp_path / "root/FashionMNIST/raw", [str(system)]) is None  # already there


def fake_apt_get(folder: Path, monkeypatch, deb: Path | None = None) -> None:
    """An ``apt-get`` first on PATH: copies ``deb`` into the current folder as ``apt-get download``
    does, or fails as apt does offline. The real unpacking code (dpkg-deb) runs on what it left."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "apt-get"
    offline = 'echo "E: Failed to fetch http://deb.debian.org/... Could not connect" >&2; exit 100'
    body = f'cp "{deb}" .' if deb else offline
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ.get('PATH', '/usr/bin:/bin')}")


def no_network(*args, **kwargs):
    raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error no network>")


def test_missing_data_offline_says_where_to_put_it(tmp_path, monkeypatch):
    dm = TorchvisionImages("mnist", str(tmp_path), download=False)
    with pytest.raises(DataNotFoundError, match=rf"MNIST was not found under {tmp_path}/MNIST.*data.download=false"
                       r".*put the dataset files there"):
        dm.prepare_data()

    from torchvision import datasets

    monkeypatch.setattr(datasets.FashionMNIST, "download", no_network)
    fake_apt_get(tmp_path / "bin", monkeypatch)
    dm = TorchvisionImages("fashion_mnist", str(tmp_path), download=True, system_dirs=[str(tmp_path / "none")])
    with pytest.raises(DataNotFoundError, match=r"Fashion-MNIST was not found under .*FashionMNIST, or in one of "
                       r".*none.*could not be downloaded \(Error downloading.*no network.*; Debian's package "
                       r"dataset-fashion-mnist could not be fetched either \(apt-get download failed: E: Failed "
                       r".*apt-get install dataset-fashion-mnist"):
        dm.prepare_data()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (a Debian/Ubuntu machine)")
def test_fashion_mnist_comes_from_debians_package_when_torchvision_cannot_download(tmp_path, monkeypatch, caplog):
    package = tmp_path / "pkg"
    make_idx_set(package / "usr/share/datasets/fashion-mnist", n=16, gz=True)
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN" / "control").write_text("Package: dataset-fashion-mnist\nVersion: 1\nArchitecture: all\n"
                                                "Maintainer: test <t@example.org>\nDescription: test\n")
    deb = tmp_path / "dataset-fashion-mnist_1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(package), str(deb)], check=True, capture_output=True)
    from torchvision import datasets

    monkeypatch.setattr(datasets.FashionMNIST, "download", no_network)
    fake_apt_get(tmp_path / "bin", monkeypatch, deb)
    caplog.set_level(logging.INFO)
    dm = TorchvisionImages("fashion_mnist", str(tmp_path / "root"), download=True, system_dirs=[], batch_size=4)
    dm.setup()
    assert dm.samples.shape == (16, 1, 32, 32)
    assert "it came from Debian's package dataset-fashion-mnist" in caplog.text
    assert sorted(p.name for p in (tmp_path / "root" / "FashionMNIST").iterdir()) == ["raw"]  # scratch removed


def test_image_folder_skips_unreadable_files_with_one_warning(tmp_path):
    make_image_files(tmp_path / "a", 5)
    make_image_files(tmp_path / "b", 3, ext="jpg")
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").write_text("ignored")
    dm = ImageFolderImages(str(tmp_path), resolution=16, channels=3, batch_size=2)
    assert dm.num_classes == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup()
    messages = [str(w.message) for w in caught if "not readable images" in str(w.message)]
    assert len(messages) == 1 and "skipped 2 of 10 files" in messages[0]
    assert dm.samples.shape == (8, 3, 16, 16)
    # with a class per subfolder, files outside the class folders (notes.txt) are not listed
    labelled = ImageFolderImages(str(tmp_path), resolution=16, channels=3, labels_from_subfolders=True)
    assert labelled.num_classes == 2
    with pytest.warns(UserWarning, match="skipped 1 of 9 files"):
        labelled.setup()
    assert sorted(labelled.labels.tolist()) == [0] * 5 + [1] * 3


def test_image_folder_errors(tmp_path):
    with pytest.raises(GanforgeError, match="set data.root=<folder with images>"):
        ImageFolderImages(None, resolution=16, channels=3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="has no files; put images in it"):
        ImageFolderImages(str(tmp_path / "empty"), resolution=16, channels=3).setup()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped 1 of 1"), pytest.raises(GanforgeError, match="none of the 1 files"):
        ImageFolderImages(str(tmp_path / "junk"), resolution=16, channels=3).setup()
    with pytest.raises(DataNotFoundError, match="is not a folder"):
        ImageFolderImages(str(tmp_path / "nowhere"), resolution=16, channels=3).setup()


def test_decoded_folder_is_cached_and_reused(tmp_path, monkeypatch):
    make_image_files(tmp_path / "imgs", 6)
    kwargs = dict(resolution=16, channels=1, cache_dir=str(tmp_path / "cache"))
    first = ImageFolderImages(str(tmp_path / "imgs"), **kwargs)
    first.setup()
    assert len(list((tmp_path / "cache").glob("*.u8"))) == 1 and len(list((tmp_path / "cache").glob("*.json"))) == 1

    import ganforge.data.folders as folders

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(folders, "decoded_chunks", must_not_decode)
    second = ImageFolderImages(str(tmp_path / "imgs"), **kwargs)
    second.setup()
    assert torch.equal(first.samples, second.samples)


def test_celeba_split_and_crop(data_root):
    dm = CelebAImages(str(data_root), split="train", resolution=32, channels=3, num_workers=1)
    dm.setup()
    assert dm.samples.shape == (20, 3, 32, 32)
    valid = CelebAImages(str(data_root), split="valid", resolution=32, channels=3)
    valid.setup()
    assert len(valid.samples) == 4
    with pytest.raises(DataNotFoundError, match=r"CelebA not found: expected .*img_align_celeba/.*list_eval_partition"):
        CelebAImages(str(data_root / "nothing"), resolution=64, channels=3).setup()


def test_memory_budget_is_checked_before_decoding(tmp_path):
    make_image_files(tmp_path, 3)
    dm = ImageFolderImages(str(tmp_path), resolution=64, channels=3, max_memory_gb=1e-6, storage="memory")
    with pytest.raises(GanforgeError, match=r"need .* GiB in memory, over data.max_memory_gb"):
        dm.setup()
    dm = ImageFolderImages(str(tmp_path), resolution=64, channels=3, max_memory_gb=1e-6)  # auto, no cache_dir
    with pytest.raises(GanforgeError, match=r"streamed from a cache file .* needs data.cache_dir"):
        dm.setup()
    with pytest.raises(GanforgeError, match="data.storage must be one of auto, memory, mapped, got 'disk'"):
        ImageFolderImages(str(tmp_path), resolution=64, channels=3, storage="disk")


def test_bad_image_settings():
    with pytest.raises(GanforgeError, match="data.channels must be one of 1, 3"):
        ImageFolderImages("x", resolution=32, channels=2)
    with pytest.raises(GanforgeError, match="unknown torchvision set 'svhn'"):
        TorchvisionImages("svhn", "x")


def test_every_lightning_epoch_is_a_full_pass(tmp_path):
    """Lightning stops a sized iterable after len() batches without asking for one more; the stream
    must still start the next epoch with a fresh permutation (a bug once left every second epoch
    empty, so `max_epochs=20` trained 10 passes)."""
    import lightning as L

    from ganforge.models.gan import GAN

    class Count(L.Callback):
        def __init__(self) -> None:
            self.per_epoch: dict[int, int] = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.per_epoch[trainer.current_epoch] = self.per_epoch.get(trainer.current_epoch, 0) + 1

    stream = InMemoryBatches(torch.randn(40, 2), torch.zeros(40, dtype=torch.long), batch_size=8)
    model = GAN(generator={"_target_": "ganforge.nets.mlp.MLPGenerator", "hidden": [8]},
                discriminator={"_target_": "ganforge.nets.mlp.MLPDiscriminator", "hidden": [8]},
                optimizer_g={"_target_": "torch.optim.Adam", "_partial_": True},
                optimizer_d={"_target_": "torch.optim.Adam", "_partial_": True}, sample_shape=[2], z_dim=2)
    count = Count()
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[count],
                        default_root_dir=tmp_path)
    trainer.fit(model, train_dataloaders=stream)
    assert count.per_epoch == {0: 5, 1: 5, 2: 5}
    assert model.d_steps == 15 and stream.epoch == 2


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10"])
def test_dataset_files_that_exist_but_do_not_parse_are_named_with_what_to_do(tmp_path, name):
    from ganforge.data.torchvision_sets import TorchvisionImages

    if name == "fashion_mnist":
        make_idx_set(tmp_path / "FashionMNIST" / "raw", n=8)
        damaged = tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
        damaged.write_bytes(damaged.read_bytes()[:100])  # cut short: torchvision's reader asserts
        where, pretty = tmp_path / "FashionMNIST", "Fashion-MNIST"
    else:
        where, pretty = tmp_path / "cifar-10-batches-py", "CIFAR-10"
        where.mkdir()
        for part in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
            (where / part).write_bytes(b"not a pickle")
    data = TorchvisionImages(name, str(tmp_path), download=False, batch_size=4, seed=0)
    with pytest.raises(GanforgeError) as err:
        data.prepare_data()
    message = str(err.value)
    assert message.startswith(f"{pretty} files under {where} could not be read (")
    assert f"Delete {where} and run again to download them" in message
    if name == "fashion_mnist":
        assert "raw/train-images-idx3-ubyte" in message


def test_the_resize_filter_changes_the_pixels_and_keys_every_cache(tmp_path):
    make_image_files(tmp_path / "imgs", 4, size=(40, 48))
    decoded = {}
    for name in ("bilinear", "bicubic", "lanczos", "box", "nearest"):
        dm = ImageFolderImages(str(tmp_path / "imgs"), resolution=16, channels=3, resize_filter=name,
                               cache_dir=str(tmp_path / "cache"))
        dm.setup()
        assert dm.samples.shape == (4, 3, 16, 16) and name in dm.dataset_name()  # the metric caches' key
        decoded[name] = dm.samples.clone()
    assert len(list((tmp_path / "cache").glob("*.u8"))) == 5  # one decoded cache per filter
    assert all(not torch.equal(decoded["bilinear"], decoded[name]) for name in ("bicubic", "lanczos", "box",
                                                                                 "nearest"))
    with pytest.raises(GanforgeError, match="resize_filter"):
        ImageFolderImages(str(tmp_path / "imgs"), resolution=16, channels=3, resize_filter="sinc")
