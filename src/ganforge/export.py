"""``run(cfg)`` of ``export.py``: a trained generator as a Hugging Face Hub folder (weights,
config, model card with a sample grid), optionally uploaded with ``push_to_hub=<user>/<repo>``."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ganforge.config import check_settings
from ganforge.errors import GanforgeError
from ganforge.hub import REPO_ID, from_module, hub_error
from ganforge.media import save_grid
from ganforge.models.loading import load_module, require_noise_model
from ganforge.resume import recorded_overrides
from ganforge.sweep import SUMMARY

log = logging.getLogger(__name__)


def run_facts(ckpt: Path) -> dict[str, Any]:
    """What the training run left beside its checkpoints: the composed config, the command line's
    overrides, the end-of-run summary and evaluate.py's scores (each only where present)."""
    run_dir = ckpt.resolve().parent.parent
    facts: dict[str, Any] = {"run_dir": run_dir}
    config = run_dir / ".hydra" / "config.yaml"
    summary, scores = run_dir / SUMMARY, ckpt.resolve().parent / "metrics.json"
    if config.is_file():
        facts["config"] = OmegaConf.to_container(OmegaConf.load(config), resolve=False)
    facts["overrides"] = recorded_overrides(run_dir) or []
    for key, path in (("summary", summary), ("scores", scores)):
        if path.is_file():
            try:
                facts[key] = json.loads(path.read_text())
            except json.JSONDecodeError:
                log.warning("%s is not valid JSON; the model card leaves it out", path)
    return facts


def quality_line(ckpt: Path, facts: dict[str, Any]) -> tuple[str, float | None]:
    """FID with what it was measured against, from evaluate.py's entry for this checkpoint, else
    the training run's last evaluation; 'not measured' when neither exists."""
    entry = facts.get("scores", {}).get(ckpt.name)
    if entry and entry.get("scores", {}).get("fid") is not None:
        fid = float(entry["scores"]["fid"])
        return (f"FID {fid:.2f}: {entry.get('num_samples')} generated images against {entry.get('real')} "
                f"({entry.get('features')}{resize_note(entry.get('resize_filter'))}), by evaluate.py on "
                f"{ckpt.name}."), fid
    metrics = facts.get("summary", {}).get("metrics", {})
    if metrics.get("val/fid") is not None:
        fid = float(metrics["val/fid"])
        settings = facts.get("config", {}).get("metrics", {})
        extractor = settings.get("extractor", {}).get("_target_", "Inception")
        return (f"FID {fid:.2f}: the training run's last evaluation, {settings.get('num_samples', '?')} generated "
                f"images against {settings.get('num_real', '?')} real images of the {settings.get('real_split', '?')} "
                f"split ({extractor.rpartition('.')[2]} features"
                f"{resize_note(facts.get('config', {}).get('data', {}).get('resize_filter'))}); the run's final "
                f"weights, which may differ from {ckpt.name}."), fid
    return ("Not measured: score it with `python evaluate.py ckpt_path=<checkpoint>` before exporting, and export "
            "again."), None


def resize_note(resize_filter: str | None) -> str:
    return f"; images resized with the {resize_filter} filter" if resize_filter else ""


def data_name(facts: dict[str, Any]) -> str:
    data = facts.get("config", {}).get("data", {})
    for override in facts.get("overrides", []):
        if override.startswith("data="):
            name = override.partition("=")[2]
            break
    else:
        name = str(data.get("_target_", "unknown data")).rpartition(".")[2]
    size = data.get("resolution")
    return f"{name} at {size} px" if size else name


def run(cfg: DictConfig) -> Path:
    check_settings(cfg, "export")
    if cfg.push_to_hub and not REPO_ID.match(str(cfg.push_to_hub)):
        raise GanforgeError(f"push_to_hub={cfg.push_to_hub} is not a Hub repository id (user/repo)")
    ckpt = Path(cfg.ckpt_path).expanduser()
    module = load_module(ckpt)
    require_noise_model(module, "export.py")
    exported = from_module(module)
    out = Path(cfg.out).expanduser()
    if out.exists() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise GanforgeError(f"out={out} is a folder with other files in it; choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)

    facts = run_facts(ckpt)
    quality, fid = quality_line(ckpt, facts)
    rng = torch.Generator().manual_seed(int(cfg.seed))
    if len(exported.sample_shape) == 3:
        save_grid(exported.sample(int(cfg.grid_size), rng), out / "samples.png", exported.grid_columns)
    hparams = module.hparams
    weights = "the EMA generator" if getattr(module, "ema", None) is not None else "the trained generator (no EMA)"
    overrides = [o for o in facts.get("overrides", []) if not o.startswith(("paths.", "hydra."))]
    source = str(cfg.push_to_hub or out)
    card = {
        "title": f"{str(hparams['generator']['_target_']).rpartition('.')[2]} ({type(module).__name__}, "
                 f"{hparams.get('loss', '?')} loss) on {data_name(facts)}",
        "summary": f"A generator trained with ganforge for {module.g_iters} generator iterations "
                   f"({module.kimg:.1f} kimg); the weights are {weights}, from `{ckpt.name}`. Samples: "
                   f"{tuple(exported.sample_shape)} in [-1, 1], latent size {exported.z_dim}"
                   + (f", {exported.num_classes} classes." if exported.conditional else "."),
        "quality": quality, "source": source,
        "command": "python train.py " + " ".join(shlex.quote(o) for o in overrides) if overrides else
                   "(the training command was not found beside the checkpoint)",
    }
    metadata = {"model_card_kwargs": card}
    exported.save_pretrained(out, **metadata)
    provenance = {"checkpoint": str(ckpt.resolve()), "g_iters": module.g_iters, "kimg": module.kimg, "fid": fid,
                  "quality": quality, "overrides": overrides, "ema": getattr(module, "ema", None) is not None}
    (out / "ganforge.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"exported {weights} to {out}")
    if cfg.push_to_hub:
        push(exported, out, str(cfg.push_to_hub), card)
    return out


def push(exported: Any, folder: Path, repo_id: str, card: dict[str, Any]) -> None:
    """Upload the folder (samples and provenance included) to the Hub; offline or not logged in: one line."""
    from huggingface_hub import HfApi

    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="ganforge export")
    except Exception as err:
        raise GanforgeError(f"push_to_hub={repo_id} failed ({hub_error(err)}); the export is complete in {folder}: "
                            "log in with `hf auth login` (or set HF_TOKEN) where the Hub can be reached, then run "
                            "the command again") from None
    print(f"uploaded to https://huggingface.co/{repo_id}")
