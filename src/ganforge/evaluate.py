"""``run(cfg)`` of ``evaluate.py``: the image metrics of a checkpoint, printed as a table and
written to ``metrics.json`` beside the checkpoint (one entry per checkpoint file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganforge.config import auto_precision, check_settings
from ganforge.errors import GanforgeError, config_errors
from ganforge.files import write_text_atomic
from ganforge.metrics.scoring import Scorer, finite_or_none
from ganforge.models.loading import load_module, pick_device, require_noise_model
from ganforge.reporting import counting

log = logging.getLogger(__name__)


def run_config_of(ckpt: Path) -> Path | None:
    """The training run's composed config: checkpoints live in ``<run>/checkpoints/``."""
    candidate = ckpt.resolve().parent.parent / ".hydra" / "config.yaml"
    return candidate if candidate.is_file() else None


def data_config(cfg: DictConfig, ckpt: Path) -> DictConfig:
    """``data`` from the command line, else the training run's own, resolved against this
    invocation's ``paths`` (so ``GANFORGE_DATA_DIR`` still moves the datasets)."""
    if cfg.get("data") is not None:
        return cfg.data
    saved = run_config_of(ckpt)
    if saved is None:
        raise GanforgeError(f"no training config found beside {ckpt} (expected <run>/.hydra/config.yaml); "
                            "name the dataset, e.g. data=fashion_mnist")
    run_cfg = OmegaConf.load(saved)
    merged = OmegaConf.create({"data": run_cfg.data, "seed": run_cfg.get("seed", 0)})
    merged.paths = cfg.paths
    return merged.data


def scores_table(scores: dict[str, float], header: dict[str, Any]) -> str:
    width = max(len(k) for k in [*header, *scores])
    lines = [f"{k:<{width}}  {v}" for k, v in header.items()]
    lines += ["", f"{'metric':<{width}}  value"]
    lines += [f"{k:<{width}}  {v:.4f}" for k, v in scores.items()]
    return "\n".join(lines)


def write_json(path: Path, ckpt_name: str, entry: dict[str, Any]) -> None:
    """Merge this checkpoint's entry into ``metrics.json`` (other checkpoints' entries stay)."""
    existing: dict[str, Any] = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text())
        except json.JSONDecodeError:
            log.warning("%s was not valid JSON; rewriting it", path)
    existing[ckpt_name] = entry
    write_text_atomic(path, json.dumps(existing, indent=2, allow_nan=True) + "\n")


def run(cfg: DictConfig) -> dict[str, float]:
    """Every check (checkpoint, data, weights, split) runs before the first image is generated."""
    check_settings(cfg, "eval")
    ckpt = Path(cfg.ckpt_path)
    device = pick_device(cfg.device)
    module = load_module(ckpt, device)
    require_noise_model(module, "evaluate.py")
    if len(module.sample_shape) != 3:
        raise GanforgeError("evaluate.py scores image models; 2-D models are measured by the mode metrics "
                            "logged during training (val/modes, val/hq_ratio, val/reverse_kl)")
    with config_errors("data"):
        datamodule = instantiate(data_config(cfg, ckpt))
    if tuple(datamodule.sample_shape) != tuple(module.sample_shape):
        raise GanforgeError(f"the checkpoint generates {tuple(module.sample_shape)} samples but the data gives "
                            f"{tuple(datamodule.sample_shape)}; pass the data settings it was trained on")
    scorer = Scorer(cfg.metrics, required=True)
    split = scorer.split(datamodule)
    extractor = scorer.extractor.to(device)

    num_samples = scorer.num_samples(device)
    precision = str(cfg.precision) if cfg.get("precision", "auto") != "auto" else auto_precision(device.type)
    reference, key, num_real = scorer.reference(datamodule, split, device)
    rng = torch.Generator().manual_seed(int(cfg.seed))
    with counting(num_samples, "generated images") as advance:
        scores = scorer.score(lambda n: module.sample(n, rng), num_samples, reference, device, advance,
                              precision=precision)
    header = {
        "checkpoint": str(ckpt),
        "trained": f"{module.g_iters} generator iterations, {module.kimg:.1f} kimg",
        "generator": "EMA" if getattr(module, "ema", None) is not None else "trained weights",
        "real": f"{num_real} images of {key}",
        "generated": f"{num_samples} images ({precision})",
        "features": extractor.name + (f" ({extractor.caveat})" if getattr(extractor, "caveat", None) else ""),
    }
    print(scores_table(scores, header))
    entry = {**header, "num_real": num_real, "num_samples": num_samples, "split": split,
             "resize_filter": getattr(datamodule, "resize_filter", None), "scores": finite_or_none(scores)}
    out = ckpt.parent / "metrics.json"
    write_json(out, ckpt.name, entry)
    print(f"\nwritten to {out}")
    return scores
