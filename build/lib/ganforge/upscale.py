"""``run(cfg)`` of ``upscale.py``: super-resolve any image, or every image of a folder, with a
trained SRResNet/SRGAN checkpoint. Images larger than ``tile`` LR pixels are processed in tiles
with ``tile_overlap`` pixels of context on each side, of which only the centre is kept: with an
overlap at least the generator's receptive radius the result equals the whole-image pass."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor
from torchvision.io import write_png

from ganforge.config import check_settings
from ganforge.data.images import UNREADABLE_IMAGE_ERRORS
from ganforge.data.sr import IMAGE_SUFFIXES, image_files, read_rgb
from ganforge.data.stream import uint8_to_unit
from ganforge.errors import GanforgeError, one_line
from ganforge.files import atomic_path
from ganforge.metrics.features import to_uint8
from ganforge.models.loading import load_module, pick_device
from ganforge.reporting import counting
from ganforge.surfaces import SuperResolver

log = logging.getLogger(__name__)


def upscale_tiled(fn: Callable[[Tensor], Tensor], lr: Tensor, scale: int, tile: int, overlap: int) -> Tensor:
    """``fn`` (an LR -> SR map) over (1, C, H, W) ``lr``, whole when it fits in ``tile`` px,
    else tile by tile: each tile's core of ``tile - 2 * overlap`` px is computed with ``overlap``
    px of context on every side (where the image has them) and pasted into the output."""
    _, channels, h, w = lr.shape
    if h <= tile and w <= tile:
        return fn(lr)
    core = tile - 2 * overlap
    if core < 1:
        raise GanforgeError(f"tile ({tile}) must be larger than twice tile_overlap ({overlap})")
    out = torch.empty(1, channels, h * scale, w * scale, device=lr.device)
    for y0 in range(0, h, core):
        for x0 in range(0, w, core):
            y1, x1 = min(y0 + core, h), min(x0 + core, w)
            ya, xa, yb, xb = max(0, y0 - overlap), max(0, x0 - overlap), min(h, y1 + overlap), min(w, x1 + overlap)
            piece = fn(lr[..., ya:yb, xa:xb])
            out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] = piece[
                ..., (y0 - ya) * scale : (y1 - ya) * scale, (x0 - xa) * scale : (x1 - xa) * scale]
    return out


def plan(source: Path, target: Path, scale: int) -> list[tuple[Path, Path]]:
    """(input, output) pairs: a file to a file (or into a folder), a folder to a folder of PNGs."""
    if source.is_dir():
        if target.exists() and not target.is_dir():
            raise GanforgeError(f"input={source} is a folder, so output must be a folder; {target} is a file")
        return [(f, target / f.relative_to(source).with_suffix(".png")) for f in image_files(source)]
    if not source.is_file():
        raise GanforgeError(f"input={source} does not exist")
    if source.suffix.lower() not in IMAGE_SUFFIXES:
        raise GanforgeError(f"input={source} is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if target.is_dir():
        return [(source, target / f"{source.stem}_x{scale}.png")]
    if target.suffix.lower() != ".png":
        raise GanforgeError(f"output={target}: upscale.py writes PNG files; name it *.png (or give a folder)")
    return [(source, target)]


def run(cfg: DictConfig) -> list[Path]:
    check_settings(cfg, "upscale")
    if not cfg.get("input") or not cfg.get("output"):
        raise GanforgeError("set input=<image or folder> and output=<file.png or folder>")
    source, target = Path(cfg.input).expanduser(), Path(cfg.output).expanduser()
    plan(source, target, 1)  # bad paths fail before the checkpoint is read
    if source.is_file():
        read_input(source)  # a single input that is not a readable image is an error, not a skip
    if int(cfg.tile) <= 2 * int(cfg.tile_overlap):
        raise GanforgeError(f"tile ({cfg.tile}) must be larger than twice tile_overlap ({cfg.tile_overlap})")
    module = load_module(cfg.ckpt_path, pick_device(cfg.device))
    if not isinstance(module, SuperResolver):
        raise GanforgeError(f"ckpt_path={cfg.ckpt_path} is a {type(module).__name__}, not a super-resolution "
                            "model (train one with model=srresnet or model=srgan)")
    scale = module.scale
    jobs = plan(source, target, scale)
    written: list[Path] = []
    skipped: list[str] = []
    with counting(len(jobs), f"upscaling x{scale}") as advance:
        for source_file, target_file in jobs:
            try:
                image = read_input(source_file)
            except GanforgeError as err:
                skipped.append(str(err))
                continue
            lr = uint8_to_unit(image).unsqueeze(0).to(module.device)
            sr = upscale_tiled(module.super_resolve, lr, scale, int(cfg.tile), int(cfg.tile_overlap))
            with atomic_path(target_file) as tmp:
                write_png(to_uint8(sr.cpu())[0], str(tmp))
            log.info("%s (%dx%d) -> %s (%dx%d)", source_file, image.shape[2], image.shape[1], target_file,
                     sr.shape[3], sr.shape[2])
            written.append(target_file)
            advance(1)
    if skipped:
        log.warning("skipped %d of %d files that are not readable images (e.g. %s)", len(skipped), len(jobs),
                    skipped[0])
    if jobs and not written:
        raise GanforgeError(f"none of the {len(jobs)} files under input={source} is a readable image")
    print(f"upscaled {len(written)} of {len(jobs)} images x{scale} into {target}"
          + (f" ({len(skipped)} unreadable files skipped)" if skipped else ""))
    return written


def read_input(path: Path) -> Tensor:
    """One input image as uint8 (3, H, W), or one line naming the file and why it cannot be read."""
    try:
        return read_rgb(path)
    except (*UNREADABLE_IMAGE_ERRORS, RuntimeError) as err:
        raise GanforgeError(f"input {path} is not a readable image ({one_line(err, 200)})") from None
