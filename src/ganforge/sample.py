"""``run(cfg)`` of ``sample.py``: images from a checkpoint (or an exported generator) without a trainer or the dataset:
a grid, separate PNG files (for external tools), a latent interpolation grid and, for
conditional models, one grid per class. 2-D models get a scatter plot and a CSV of points."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torchvision.io import write_png

from ganforge.config import check_settings
from ganforge.files import write_text_atomic
from ganforge.hub import REPO_ID, load_generator
from ganforge.media import save_grid, scatter_png
from ganforge.metrics.features import to_uint8
from ganforge.models.loading import load_module, pick_device, require_noise_model
from ganforge.reporting import counting

log = logging.getLogger(__name__)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between latent batches ``a`` and ``b`` (rows) at fractions ``t``:
    stays on the shell where Gaussian latents live, unlike a straight line (White 2016)."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def load_source(source: str, device: torch.device, log_dir: str) -> tuple[Any, Path]:
    """The model behind ``ckpt_path`` (a training checkpoint, an exported folder or a Hub repository
    id) and where its images go by default."""
    ckpt = Path(source).expanduser()
    if ckpt.is_file() or ckpt.suffix == ".ckpt" or not (ckpt.is_dir() or REPO_ID.match(source)):  # a file
        module = load_module(ckpt, device)
        require_noise_model(module, "sample.py")
        return module, ckpt.resolve().parent.parent / "generated" / ckpt.stem
    name = ckpt.name if ckpt.is_dir() else source.replace("/", "--")
    return load_generator(source, device), Path(log_dir) / "sample" / name


def run(cfg: DictConfig) -> list[Path]:
    check_settings(cfg, "sample")
    device = pick_device(cfg.device)
    module, default_out = load_source(str(cfg.ckpt_path), device,
                                      str(OmegaConf.select(cfg, "paths.log_dir", default="outputs")))
    ckpt = Path(str(cfg.ckpt_path))
    out = Path(cfg.out_dir) if cfg.out_dir else default_out
    out.mkdir(parents=True, exist_ok=True)
    rng = torch.Generator().manual_seed(int(cfg.seed))
    z_dim = module.z_dim

    written: list[Path] = []
    if len(module.sample_shape) != 3:  # 2-D points
        points = module.sample(2000, rng).cpu()
        csv = out / "points.csv"
        write_text_atomic(csv, "x,y\n" + "\n".join(f"{x:.6f},{y:.6f}" for x, y in points.tolist()) + "\n")
        scatter_png(torch.empty(0, 2), points, out / "scatter.png", f"{ckpt.name}: {len(points)} samples")
        written += [csv, out / "scatter.png"]
        log.info("wrote %s", ", ".join(map(str, written)))
        return written

    columns = int(cfg.grid_columns)
    written.append(save_grid(module.sample(cfg.grid_size, rng), out / "grid.png", columns))

    if cfg.num_images:
        folder = out / "images"
        folder.mkdir(exist_ok=True)
        with counting(cfg.num_images, f"writing {cfg.num_images} PNG files to {folder}") as advance:
            for start in range(0, cfg.num_images, cfg.batch_size):
                n = min(cfg.batch_size, cfg.num_images - start)
                for i, image in enumerate(to_uint8(module.sample(n, rng).cpu())):
                    write_png(image, str(folder / f"{start + i:06d}.png"))  # 1 or 3 channels, as trained
                advance(n)
        written.append(folder)

    rows, steps = cfg.interpolation.rows, cfg.interpolation.steps
    if rows:
        ends = torch.randn(2, rows, z_dim, generator=rng)
        t = torch.linspace(0, 1, steps).view(1, steps, 1)
        z = slerp(ends[0].unsqueeze(1), ends[1].unsqueeze(1), t).reshape(rows * steps, z_dim)
        labels = None
        if module.conditional:  # one class per row, so the row shows the latent path alone
            labels = (torch.arange(rows) % module.num_classes).repeat_interleave(steps)
        written.append(save_grid(module.generate(z, labels), out / "interpolation.png", steps))

    if module.conditional:
        for k in range(module.num_classes):
            z = torch.randn(cfg.grid_size, z_dim, generator=rng)
            labels = torch.full((cfg.grid_size,), k, dtype=torch.long)
            written.append(save_grid(module.generate(z, labels), out / f"class_{k:02d}.png", columns))
    log.info("wrote %d files and folders under %s", len(written), out)
    print(f"samples written under {out}")
    return written
