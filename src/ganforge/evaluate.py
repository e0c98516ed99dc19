"""``run(cfg)`` of ``evaluate.py``: the image metrics of a checkpoint (or of a folder of images)
against a data set, a folder or an ``.npz`` of statistics, printed as a table and written to
``metrics.json`` beside the checkpoint (one entry per checkpoint file) or beside the folder."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganforge.config import auto_precision, check_settings
from ganforge.errors import GanforgeError, config_errors
from ganforge.files import write_text_atomic
from ganforge.metrics.files import frechet_distance, load_statistics, read_folder, save_statistics, statistics
from ganforge.metrics.images import batched, extract
from ganforge.metrics.scoring import Scorer, finite_or_none, metrics_against, reference_features, sample_features
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


@dataclass
class Reference:
    """The real side: features (every metric) or only ``mu``/``sigma`` from an ``.npz`` (FID alone)."""

    label: str
    features: torch.Tensor | None = None
    stats: dict[str, Any] | None = None
    split: str | None = None
    resize_filter: str | None = None
    count: int | None = None
    datamodule: Any = None  # the data set, where the reference is one
    judging: bool = False   # class accuracy measured (a conditional model on labelled data)


def reference_of(cfg: DictConfig, scorer: Scorer, device: torch.device, ckpt: Path | None,
                 module: Any = None) -> Reference:
    """``against`` (a folder of images or an ``.npz`` of statistics), else the data set: the
    command line's ``data``, or the training run's beside the checkpoint."""
    against = cfg.get("against")
    extractor = scorer.extractor
    conditional = bool(getattr(module, "conditional", False))
    sample_shape = module.sample_shape if module is not None else None
    if against:
        scorer.judges(None, conditional, f"against={against}")  # enabled=true there: one line, before any work
    if against and str(against).endswith(".npz"):
        return Reference(f"statistics {against}", stats=load_statistics(against, "against", extractor.num_features))
    if against:
        images = read_folder(against, "against")
        with counting(len(images), f"real images of {against}") as advance:
            features, _ = extract(extractor, batched(images, scorer.settings.batch_on(device)), device, advance)
        return Reference(f"{len(images)} images of the folder {against}", features=features, count=len(images))
    if ckpt is None and cfg.get("data") is None:
        raise GanforgeError("name what the images are scored against: data=<data set>, against=<folder of images> "
                            "or against=<statistics.npz>")
    with config_errors("data"):
        datamodule = instantiate(data_config(cfg, ckpt) if ckpt is not None else cfg.data)
    if sample_shape is not None and tuple(datamodule.sample_shape) != tuple(sample_shape):
        raise GanforgeError(f"the checkpoint generates {tuple(sample_shape)} samples but the data gives "
                            f"{tuple(datamodule.sample_shape)}; pass the data settings it was trained on")
    split = scorer.split(datamodule)
    judging = module is not None and scorer.judges(datamodule, conditional)
    features, key, count = reference_features(datamodule, split, scorer.settings, extractor, device)
    return Reference(f"{count} images of {key}", features=features, split=split, count=count,
                     resize_filter=getattr(datamodule, "resize_filter", None), datamodule=datamodule,
                     judging=judging)


def run(cfg: DictConfig) -> dict[str, float]:
    """Scores a checkpoint's samples or a folder of images (``images``) against a data set, a
    folder or statistics (``against``); ``save_stats`` writes the reference's ``mu``/``sigma``. Every
    check (files, data, weights, split) runs before the first image is generated."""
    check_settings(cfg, "eval")
    ckpt = Path(cfg.ckpt_path).expanduser() if cfg.get("ckpt_path") else None
    folder = cfg.get("images")
    if ckpt is not None and folder:
        raise GanforgeError("give ckpt_path=<checkpoint> or images=<folder>, not both")
    if ckpt is None and not folder and not cfg.get("save_stats"):
        raise GanforgeError("ckpt_path=<checkpoint> or images=<folder of images> is required (or save_stats="
                            "<file.npz> alone, to write the reference statistics)")
    if cfg.get("save_stats") and not str(cfg.save_stats).endswith(".npz"):
        raise GanforgeError(f"save_stats={cfg.save_stats} must end in .npz (numpy's archive, as pytorch-fid writes it)")
    device = pick_device(cfg.device)
    module = None
    if ckpt is not None:
        module = load_module(ckpt, device)
        require_noise_model(module, "evaluate.py")
        if len(module.sample_shape) != 3:
            raise GanforgeError("evaluate.py scores image models; 2-D models are measured by the mode metrics "
                                "logged during training (val/modes, val/hq_ratio, val/reverse_kl)")
    generated = read_folder(folder, "images") if folder else None
    scorer = Scorer(cfg.metrics, required=True)
    extractor = scorer.extractor.to(device)
    reference = reference_of(cfg, scorer, device, ckpt, module)
    if cfg.get("save_stats"):
        stats = reference.stats or statistics(reference.features)
        print(f"reference statistics ({reference.label}) written to {save_statistics(cfg.save_stats, stats)}")
        if module is None and generated is None:
            return {}

    batch = scorer.settings.batch_on(device)
    precision = str(cfg.precision) if cfg.get("precision", "auto") != "auto" else auto_precision(device.type)
    if module is not None:
        num_samples = scorer.num_samples(device)
        rng = torch.Generator().manual_seed(int(cfg.seed))
        with counting(num_samples, "generated images") as advance:
            fake, logits = sample_features(lambda n: module.sample(n, rng), num_samples, extractor, batch, device,
                                           advance, precision)
    else:
        num_samples = len(generated)
        with counting(num_samples, f"images of {folder}") as advance:
            fake, logits = extract(extractor, batched(generated, batch), device, advance)
    if reference.features is not None:
        scores = metrics_against(reference.features, scorer.settings).compute(fake, logits)
    else:  # mu and sigma alone: FID is the one score they define
        scores = {"fid": frechet_distance(statistics(fake), reference.stats)}
    if reference.judging:
        judge = scorer.judge(reference.datamodule, device)
        class_rng = torch.Generator().manual_seed(int(cfg.seed) + 7)
        scores.update(scorer.class_scores(judge, lambda labels: module.sample_classes(labels, class_rng), device,
                                          precision))

    header: dict[str, Any] = {"checkpoint": str(ckpt)} if module is not None else {"images": str(folder)}
    if module is not None:
        header.update(trained=f"{module.g_iters} generator iterations, {module.kimg:.1f} kimg",
                      generator="EMA" if getattr(module, "ema", None) is not None else "trained weights")
    header.update(real=reference.label,
                  generated=f"{num_samples} images" + (f" ({precision})" if module is not None else ""),
                  features=extractor.name + (f" ({extractor.caveat})" if getattr(extractor, "caveat", None) else ""))
    print(scores_table(scores, header))
    entry = {**header, "num_real": reference.count, "num_samples": num_samples, "split": reference.split,
             "resize_filter": reference.resize_filter, "scores": finite_or_none(scores)}
    scored = ckpt if ckpt is not None else Path(folder).expanduser().resolve()
    out = scored.parent / "metrics.json"
    write_json(out, scored.name, entry)
    print(f"\nwritten to {out}")
    return scores
