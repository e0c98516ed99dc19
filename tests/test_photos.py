"""data=sr_photos: the fixed set of real photographs, assembled from scikit-image and Debian's
wallpaper packages; here from a fake package built with the real dpkg-deb and a fake apt-get."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, compose_cfg
from PIL import Image
from test_data import fake_apt_get
from test_sr import TINY_SR, csv_columns

from ganforge.data.photos import DEBIAN_PHOTOS, SKIMAGE_PHOTOS, photo_folders
from ganforge.data.sr import SRPhotos
from ganforge.errors import DataNotFoundError, GanforgeError
from ganforge.train import run

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (a Debian/Ubuntu machine)")


def fake_mate_package(tmp_path: Path, names: tuple[str, ...] = ("Aqua", "Dune", "Garden", "Storm")) -> Path:
    """A mate-backgrounds .deb holding JPEGs (300 x 200) of some of the named photos, and artwork
    that is not on the list."""
    tree = tmp_path / "pkg"
    folder = tree / "usr/share/backgrounds/mate/nature"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in (*names, "NotAPhoto"):
        pixels = rng.integers(0, 256, (25, 38, 3)).astype(np.uint8)
        Image.fromarray(pixels).resize((300, 200), Image.BICUBIC).save(folder / f"{name}.jpg")
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text("Package: mate-backgrounds\nVersion: 1\nArchitecture: all\n"
                                             "Maintainer: test <t@example.org>\nDescription: test\n")
    deb = tmp_path / "mate-backgrounds_1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True, capture_output=True)
    return deb


@needs_dpkg
def test_photos_come_from_the_package_with_the_held_out_names_and_are_reused(tmp_path, monkeypatch, caplog):
    fake_apt_get(tmp_path / "bin", monkeypatch, fake_mate_package(tmp_path))
    caplog.set_level(logging.INFO)
    root = tmp_path / "photos"
    train, val = photo_folders(root, ["mate-backgrounds"], max_side=150)
    assert sorted(p.name for p in train.iterdir()) == ["mate-Aqua.png", "mate-Dune.png"]
    assert sorted(p.name for p in val.iterdir()) == ["mate-Garden.png", "mate-Storm.png"]
    assert set(DEBIAN_PHOTOS["mate-backgrounds"][1]["val"]) == {"Garden", "Storm"}
    assert Image.open(val / "mate-Garden.png").size == (150, 100)  # longest side capped, aspect kept
    manifest = json.loads((root / "photos.json").read_text())
    assert manifest["counts"] == {"train": 2, "val": 2} and manifest["max_side"] == 150
    assert "mate-backgrounds:Blinds" in manifest["missing"] and "left out" in caplog.text
    assert sorted(p.name for p in root.iterdir()) == ["photos.json", "train", "val"]  # no scratch left

    fake_apt_get(tmp_path / "bin", monkeypatch)  # offline now: what is assembled is reused
    assert photo_folders(root, ["mate-backgrounds"], max_side=150) == (train, val)
    with pytest.raises(DataNotFoundError, match=r"mate-backgrounds: apt-get download failed: E: Failed.*"
                       r"data.sources=\[\.\.\.\].*data=sr_folder"):
        photo_folders(root, ["mate-backgrounds"], max_side=120)  # a changed request rebuilds, and cannot
    assert (val / "mate-Garden.png").is_file() and not (root / ".building").exists()  # the old set is kept
    with pytest.raises(DataNotFoundError, match="data.download=false"):
        photo_folders(tmp_path / "elsewhere", ["mate-backgrounds"], max_side=150, download=False)


def test_sr_photos_refuses_bad_settings_before_any_work(tmp_path):
    with pytest.raises(GanforgeError, match=r"data.sources must name some of \['skimage', 'mate-backgrounds'"):
        SRPhotos(root=str(tmp_path), sources=["skimage", "unsplash"])
    with pytest.raises(GanforgeError, match="data.sources must name"):
        SRPhotos(root=str(tmp_path), sources=[])
    with pytest.raises(GanforgeError, match="holds out its photos by name"):
        SRPhotos(root=str(tmp_path), val_root=str(tmp_path))
    with pytest.raises(GanforgeError, match=r"data.max_side \(64\) must be at least data.crop \(96\)"):
        SRPhotos(root=str(tmp_path), max_side=64)
    with pytest.raises(GanforgeError, match="multiple of data.scale"):
        SRPhotos(root=str(tmp_path), crop=30)
    assert not any(tmp_path.iterdir())


def test_skimage_photos_are_split_by_name(tmp_path):
    pytest.importorskip("skimage.data", reason="scikit-image (dev extra) holds the sample photographs")
    train, val = photo_folders(tmp_path, ["skimage"], max_side=256)
    assert sorted(p.stem for p in val.iterdir()) == sorted(f"skimage-{n}" for n in SKIMAGE_PHOTOS["val"])
    assert sorted(p.stem for p in train.iterdir()) == sorted(f"skimage-{n}" for n in SKIMAGE_PHOTOS["train"])
    assert max(Image.open(val / "skimage-astronaut.png").size) == 256


@needs_dpkg
def test_srresnet_trains_on_sr_photos(tmp_path, monkeypatch):
    fake_apt_get(tmp_path / "bin", monkeypatch, fake_mate_package(tmp_path))
    cfg = compose_cfg(tmp_path, ["model=srresnet", "data=sr_photos", f"data.root={tmp_path / 'photos'}",
                                 "data.sources=[mate-backgrounds]", "data.max_side=160", *TINY, "logger=csv",
                                 *TINY_SR, "g_iters=2"])
    run(cfg)
    logged = csv_columns(Path(cfg.paths.output_dir))
    assert all(math.isfinite(v) for v in logged["val/psnr"]) and len(logged["val/psnr_bicubic"]) == 1


def test_runs_started_together_take_turns_assembling(tmp_path):
    pytest.importorskip("skimage.data", reason="scikit-image (dev extra) holds the sample photographs")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        done = list(pool.map(lambda _: photo_folders(tmp_path / "photos", ["skimage"], max_side=64), range(3)))
    assert len(set(done)) == 1
    train, val = done[0]
    assert len(list(train.iterdir())) == len(SKIMAGE_PHOTOS["train"])
    assert not (tmp_path / "photos" / ".building").exists()
