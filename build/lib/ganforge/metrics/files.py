"""Scoring that speaks other tools' formats: a folder of images as either side of FID, and
reference statistics as ``.npz`` files holding ``mu`` and ``sigma`` (the layout pytorch-fid and
torch-fidelity read and write). The statistics and the Fréchet distance between two of them are
torch-fidelity's own functions."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2.functional import pil_to_tensor

from ganforge.errors import GanforgeError
from ganforge.files import atomic_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
Statistics = dict[str, np.ndarray]


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted; hidden files and other suffixes left out)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_folder(folder: str | Path, key: str) -> Tensor:
    """Every image of a folder as uint8 RGB (N, 3, H, W), as torch-fidelity reads a folder (RGB,
    no resizing: the feature extractor resizes). All images must have one size."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise GanforgeError(f"{key}={folder} is not a folder of images")
    files = image_files(root)
    if not files:
        raise GanforgeError(f"{key}={folder} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images, skipped = [], []
    for path in files:
        try:
            with Image.open(path) as img:
                tensor = pil_to_tensor(img.convert("RGB"))
        except (OSError, ValueError, SyntaxError):
            skipped.append(path)
            continue
        if images and tensor.shape != images[0].shape:
            raise GanforgeError(f"{key}={folder}: {path.name} is {tuple(tensor.shape[1:])} px and the first image "
                                f"{tuple(images[0].shape[1:])}; FID of a folder needs one image size")
        images.append(tensor)
    if skipped:
        warnings.warn(f"{key}={folder}: skipped {len(skipped)} unreadable files (first: {skipped[0].name})",
                      stacklevel=2)
    if len(images) < 2:
        raise GanforgeError(f"{key}={folder} has {len(images)} readable images; FID needs at least 2")
    return torch.stack(images)


def statistics(features: Tensor) -> Statistics:
    """Mean and covariance of features (float64), torch-fidelity's ``fid_features_to_statistics``."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    return fid_features_to_statistics(features.double().cpu())


def frechet_distance(generated: Statistics, reference: Statistics) -> float:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    return float(fid_statistics_to_metric(generated, reference, verbose=False)[KEY_METRIC_FID])


def save_statistics(path: str | Path, stats: Statistics) -> Path:
    """``mu`` and ``sigma`` as pytorch-fid writes them (``np.savez``), atomically."""
    path = Path(path).expanduser()
    if path.suffix != ".npz":
        raise GanforgeError(f"save_stats={path} must end in .npz (numpy's archive, as pytorch-fid writes it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, mu=stats["mu"], sigma=stats["sigma"])
    return path


def load_statistics(path: str | Path, key: str, dims: int | None = None) -> Statistics:
    """An ``.npz`` with ``mu`` (d,) and ``sigma`` (d, d), checked (with the extractor's ``dims``)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise GanforgeError(f"{key}={path} does not exist")
    try:
        with np.load(file, allow_pickle=False) as data:
            stats = {name: np.asarray(data[name], dtype=np.float64) for name in ("mu", "sigma")}
    except KeyError:
        raise GanforgeError(f"{key}={path} has no mu and sigma arrays (the pytorch-fid layout)") from None
    except (OSError, ValueError) as err:
        raise GanforgeError(f"{key}={path} is not a numpy .npz file ({err})") from None
    mu, sigma = stats["mu"], stats["sigma"]
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise GanforgeError(f"{key}={path}: mu {mu.shape} and sigma {sigma.shape} do not fit together (expected "
                            "(d,) and (d, d))")
    if dims is not None and len(mu) != dims:
        raise GanforgeError(f"{key}={path} holds statistics of {len(mu)}-dimensional features and the extractor "
                            f"gives {dims}: they come from another network or layer")
    return stats
