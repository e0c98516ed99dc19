"""What a checkpoint records of its model and which checkpoints a run accepts: the class, the
hparams (plain data), and the tables that keep checkpoints written by earlier versions loading
(classes that moved, settings added or renamed later)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganforge.errors import GanforgeError

# How the model runs, not what it is: a run may resume with these changed (e.g. on another device).
# generator_ckpt only gives starting weights, which the resumed checkpoint replaces.
EXECUTION_KEYS = frozenset({"compile", "channels_last", "generator_ckpt"})
# Settings added after checkpoints already existed, with the value that reproduces the old behaviour.
ADDED_LATER = {"pack": 1, "critic_warmup": None, "reset_optimizers_per_stage": False, "lr_drop": None,
               "reuse_fake": False, "freeze_d_layers": 0, "penalty_precision": "fp32",
               "penalty_every": 1, "penalty_batch": None, "simultaneous": False}
# Settings renamed (old name -> new name) and settings dropped because they never did anything.
RENAMED = {"clip_weights": "clip_value"}
DROPPED = {"ganforge.models.srgan.SRGAN": ("n_critic",)}
# Classes that moved (old path -> new path): checkpoints name the class that wrote them.
CLASS_ALIASES: dict[str, str] = {}


def plain(value: Any) -> Any:
    """DictConfig -> dicts and lists, so hparams stay plain data in checkpoints."""
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def class_path(module: object) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def saved_class(checkpoint: dict[str, Any]) -> str:
    """The class that wrote the checkpoint, under its current name."""
    name = checkpoint.get("ganforge_class", "ganforge.models.gan.GAN")
    return CLASS_ALIASES.get(name, name)


def saved_hparams(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's hparams in today's spelling (renamed keys, dropped keys removed)."""
    hparams = {RENAMED.get(k, k): v for k, v in checkpoint.get("hyper_parameters", {}).items()}
    for key in DROPPED.get(saved_class(checkpoint), ()):
        hparams.pop(key, None)
    return hparams


def check_same_hparams(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume when the model's hyperparameters differ from the checkpoint's."""
    # Checkpoints from before a setting existed behaved as its default (for modules that have it).
    saved = {**{k: v for k, v in ADDED_LATER.items() if k in current}, **saved}
    changed = sorted(k for k in (set(saved) | set(current)) - EXECUTION_KEYS if saved.get(k) != current.get(k))
    if changed:
        detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in changed)
        raise GanforgeError(
            f"the checkpoint was trained with other model settings ({detail}). Resume with the run's own "
            "overrides (see .hydra/overrides.yaml in its run directory), or start a new run"
        )


def check_resumable(module: object, checkpoint: dict[str, Any], where: str) -> None:
    """Refuse, before training, a checkpoint of another model class or of other model settings."""
    saved = saved_class(checkpoint)
    if "ganforge_class" in checkpoint and saved != class_path(module):
        raise GanforgeError(f"{where} holds a {saved.rpartition('.')[2]} model and this run builds a "
                            f"{type(module).__name__}; resume with the run's own overrides (see .hydra/overrides.yaml "
                            "in its run directory)")
    check_same_hparams(saved_hparams(checkpoint), dict(module.hparams))
