"""Real Fashion-MNIST (GANFORGE_DATA_DIR, ./data or Debian's package; skips without it)."""

import csv
import math
from pathlib import Path

import pytest
import torch
from conftest import NO_FASHION, compose_cfg, real_fashion_root
from PIL import Image

from ganforge.train import run


@pytest.mark.slow
def test_dcgan_200_iterations_on_real_fashion_mnist(tmp_path):
    found = real_fashion_root()
    if found is None:
        pytest.skip(NO_FASHION)
    if found.name == "fashion-mnist":  # Debian's folder of .gz files: let the data module copy them
        data = [f"data.root={tmp_path / 'data'}", f"data.system_dirs=[{found}]"]
    else:
        data = [f"data.root={found}"]
    cfg = compose_cfg(tmp_path, [*data, "data.download=false", "trainer=cpu", "logger=csv", "g_iters=200",
                                 "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
                                 "callbacks.samples.every_n_g_iters=100", "callbacks.evaluation=null"])
    run(cfg)
    out = Path(cfg.paths.output_dir)
    rows = list(csv.DictReader(open(out / "csv" / "metrics.csv")))
    losses = [float(r[k]) for r in rows for k in ("train/loss_d", "train/loss_g") if r.get(k)]
    assert len(losses) > 20 and all(math.isfinite(v) for v in losses)
    grid = Image.open(out / "samples" / "g0000200.png")
    assert grid.size == (8 * 34 + 2, 8 * 34 + 2)  # 8x8 grid of 32 px images with 2 px padding
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"]["g_iters"] == 200
    assert ckpt["counters"]["images_seen"] == 200 * 64
