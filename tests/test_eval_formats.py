"""evaluate.py in other tools' formats: a folder of images against a folder, a data set or an .npz
of mu/sigma (pytorch-fid's layout), reference statistics written as .npz, and (with the real FID
weights) FID of two folders equal to torch-fidelity's command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import NO_FID_WEIGHTS, compose_cfg
from omegaconf import open_dict
from PIL import Image
from test_hub import entry_cfg

from ganforge import evaluate
from ganforge.errors import GanforgeError

RANDOM = ["metrics/extractor=random_conv", "metrics.kid_subset_size=8", "metrics.batch_size=16", "device=cpu"]


def image_folder(folder: Path, n: int, seed: int, size: int = 28, shift: float = 0.0) -> Path:
    """Smooth random grey blobs as PNG files (a distribution, so two seeds give a small FID)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        cy, cx = rng.uniform(6, size - 6, 2)
        radius = rng.uniform(3, 8) + shift
        image = 255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return folder


def scores(overrides: list[str], tmp_path: Path) -> dict[str, float]:
    paths = compose_cfg(tmp_path, []).paths  # resolved as train.py would (Hydra's output dir set)
    cfg = entry_cfg("eval", [*RANDOM, f"metrics.cache_dir={tmp_path / 'cache'}", *overrides])
    with open_dict(cfg):
        cfg.paths = paths
    return evaluate.run(cfg)


def test_a_folder_against_a_folder_and_against_its_saved_statistics(tmp_path, capsys):
    fake = image_folder(tmp_path / "fake", 40, seed=1, shift=2.0)
    real = image_folder(tmp_path / "real", 40, seed=2)
    stats = tmp_path / "stats" / "real.npz"
    first = scores([f"images={fake}", f"against={real}", f"save_stats={stats}"], tmp_path)
    assert {"fid", "kid", "precision", "recall"} <= set(first) and first["fid"] > 0
    with np.load(stats) as data:
        assert set(data.files) == {"mu", "sigma"} and data["sigma"].shape == (len(data["mu"]),) * 2
    entry = json.loads((tmp_path / "metrics.json").read_text())["fake"]
    assert entry["images"] == str(fake) and entry["num_samples"] == 40 and entry["scores"]["fid"] == first["fid"]
    # mu/sigma alone: the same FID (torch-fidelity's arithmetic on the same statistics)
    from_stats = scores([f"images={fake}", f"against={stats}"], tmp_path)
    assert set(from_stats) == {"fid"} and from_stats["fid"] == pytest.approx(first["fid"], rel=1e-3)
    # statistics of a folder alone, nothing scored
    alone = tmp_path / "alone.npz"
    assert scores([f"against={real}", f"save_stats={alone}"], tmp_path) == {}
    assert "reference statistics (40 images of the folder" in capsys.readouterr().out and alone.is_file()


def test_a_folder_against_a_data_set_and_the_cache_writes_npz_beside_it(tmp_path, data_root):
    fake = image_folder(tmp_path / "fake", 20, seed=1)
    result = scores([f"images={fake}", "data=mnist", f"data.root={data_root}", "data.download=false",
                     "metrics.num_real=32"], tmp_path)
    assert np.isfinite(result["fid"])
    (npz,) = (tmp_path / "cache").glob("*.npz")  # beside the cached features, for other tools
    with np.load(npz) as data:
        assert set(data.files) == {"mu", "sigma"}


@pytest.mark.parametrize("overrides, message", [
    ([], "ckpt_path=<checkpoint> or images=<folder of images> is required"),
    (["images={fake}", "ckpt_path={fake}/x.ckpt"], "not both"),
    (["images={fake}"], "name what the images are scored against"),
    (["images={fake}", "against={bad_npz}"], "has no mu and sigma arrays"),
    (["images={fake}", "against={wrong_dims}"], "holds statistics of 5-dimensional features and the extractor gives"),
    (["images={mixed}", "against={fake}"], "FID of a folder needs one image size"),
    (["images={tmp}/nowhere", "against={fake}"], "images=.*nowhere is not a folder of images"),
    (["against={fake}", "save_stats={tmp}/stats.txt"], "must end in .npz"),
])
def test_bad_inputs_are_one_line_before_any_scoring(tmp_path, overrides, message):
    fake = image_folder(tmp_path / "fake", 4, seed=1)
    mixed = image_folder(tmp_path / "mixed", 2, seed=1)
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(mixed / "odd.png")
    np.savez(tmp_path / "bad.npz", mean=np.zeros(3))
    np.savez(tmp_path / "wrong.npz", mu=np.zeros(5), sigma=np.eye(5))
    names = {"fake": fake, "mixed": mixed, "bad_npz": tmp_path / "bad.npz", "wrong_dims": tmp_path / "wrong.npz",
             "tmp": tmp_path}
    with pytest.raises(GanforgeError, match=message) as err:
        scores([o.format(**names) for o in overrides], tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_fid_of_two_folders_equals_torch_fidelitys_command_line(tmp_path):
    if not (Path(torch.hub.get_dir()) / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth").is_file():
        pytest.skip(NO_FID_WEIGHTS.format(hub=torch.hub.get_dir()))
    fake = image_folder(tmp_path / "fake", 100, seed=1, shift=1.0)
    real = image_folder(tmp_path / "real", 100, seed=2)
    ours = scores([f"images={fake}", f"against={real}", "metrics/extractor=inception"], tmp_path)["fid"]
    cli = Path(sys.executable).with_name("fidelity")
    out = subprocess.run([str(cli), "--cpu", "--fid", "--json", "--silent", "--no-cache", "--input1", str(fake),
                          "--input2", str(real)], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "TORCH_HOME": str(Path(torch.hub.get_dir()).parent)})
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = json.loads(out.stdout)["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-3), (ours, theirs)
