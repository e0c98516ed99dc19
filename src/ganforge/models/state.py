"""What the LightningModules share: ``CountedModule`` (generator-iteration / image counters, RNG
state and class name in checkpoints, logging on logging steps only), RNG state as plain tensors
(so checkpoints load with ``weights_only=True``) and the refusal to resume under silently changed
hparams."""

from __future__ import annotations

import inspect
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganforge.errors import GanforgeError, config_errors
from ganforge.lightning_internals import logs_this_step


def capture_rng() -> dict[str, Any]:
    """Every RNG a training step may draw from, as tensors and plain Python values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), py[-1]))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# How the model runs, not what it is: a run may resume with these changed (e.g. on another device).
# generator_ckpt only gives starting weights, which the resumed checkpoint replaces.
EXECUTION_KEYS = frozenset({"compile", "channels_last", "generator_ckpt"})
# Settings added after checkpoints already existed, with the value that reproduces the old behaviour.
ADDED_LATER = {"pack": 1, "critic_warmup": None, "reset_optimizers_per_stage": False, "lr_drop": None,
               "reuse_fake": False}


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


def multi_tensor_default(make: Any) -> dict[str, Any]:
    """``{"foreach": True}`` for a torch optimizer that takes it, unless its config chose
    ``foreach``, ``fused`` or ``differentiable`` (which the multi-tensor path does not support).
    On the CPU PyTorch defaults to its per-tensor loop; the multi-tensor (foreach) path takes the
    same steps in fewer calls, which shows on small nets; on CUDA it is already the default.
    Kept out of the configs so that checkpoints' hparams do not change."""
    func = getattr(make, "func", make)
    chosen = getattr(make, "keywords", {}) or {}
    try:
        accepts = "foreach" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}
    if not accepts or chosen.get("foreach") is not None or chosen.get("fused") or chosen.get("differentiable"):
        return {}
    return {"foreach": True}


def class_path(module: object) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def check_resumable(module: L.LightningModule, checkpoint: dict[str, Any], where: str) -> None:
    """Refuse, before training, a checkpoint of another model class or of other model settings."""
    saved = checkpoint.get("ganforge_class")
    if saved and saved != class_path(module):
        raise GanforgeError(f"{where} holds a {saved.rpartition('.')[2]} model and this run builds a "
                            f"{type(module).__name__}; resume with the run's own overrides (see .hydra/overrides.yaml "
                            "in its run directory)")
    check_same_hparams(checkpoint.get("hyper_parameters", {}), dict(module.hparams))


def plain(value: Any) -> Any:
    """DictConfig -> dicts and lists, so hparams stay plain data in checkpoints."""
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


class CountedModule(L.LightningModule):
    """The counters (``g_iters``, ``d_steps``, ``images_seen``) that progress, callbacks and
    schedules read, saved with the RNG state and the module's class under plain keys, and
    restored (RNG only when training starts, so nothing between load and step draws from it).
    Plain ints, not buffers: reading a CUDA buffer every batch would sync the GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.g_iters = self.d_steps = self.images_seen = 0
        self.run_length: int | None = None  # generator iterations of the whole run (schedules read it)
        self._pending_rng: dict | None = None
        self.logged: dict[str, Any] | None = None  # this logging step's metrics, for DivergenceGuard

    @property
    def kimg(self) -> float:
        return self.images_seen / 1000.0

    def plan_run(self, g_iters: int | None) -> None:
        """Called by ``train.py`` with the run's length in generator iterations (None: no limit,
        e.g. a run of ``trainer.max_epochs``); learning-rate schedules are laid out over it."""
        self.run_length = g_iters

    def before_fit(self, datamodule: Any) -> None:
        """Called by ``train.run`` before the data is read: checks that need the data module or
        would otherwise fail inside training (optimizer settings here; subclasses add theirs)."""
        self.build_optimizers()

    def optimizer_specs(self) -> list[tuple[str, Any, Any]]:
        """(config key, optimizer config, parameters) of each optimizer, in the order of ``optimizers()``."""
        raise NotImplementedError

    def build_optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimizers; a setting torch refuses (e.g. a negative learning rate) is one line naming
        its key. ``before_fit`` calls this once too, so that happens before any training."""
        built = []
        for key, node, params in self.optimizer_specs():
            with config_errors(key):
                make = instantiate(node)
                built.append(make(params, **multi_tensor_default(make)))
        return built

    def _schedulers(self) -> list:
        """The learning-rate schedulers ``configure_optimizers`` returned (none: empty); stepped
        by the loop itself, once per generator iteration (manual optimization steps none)."""
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]

    def _log_now(self) -> bool:
        """Whether Lightning sends this batch's step metrics to the loggers (every
        ``trainer.log_every_n_steps`` batches, and the last). ``self.log`` is not free on a GPU
        step of a small net, so metrics are logged only then."""
        return logs_this_step(self.trainer)

    def log_training(self, metrics: dict[str, Any], batch_size: int) -> None:
        """Send one logging step's metrics to the loggers (under DDP as means over ranks: one
        all-reduce, on logging steps only) and keep them for the divergence check."""
        self.logged = metrics
        self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=batch_size,
                      sync_dist=self.trainer.world_size > 1)

    def on_train_start(self) -> None:
        if self._pending_rng is not None:
            restore_rng(self._pending_rng)
            self._pending_rng = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganforge_class"] = class_path(self)  # read by load_module
        checkpoint["rng"] = capture_rng()
        checkpoint["counters"] = {"g_iters": self.g_iters, "d_steps": self.d_steps, "images_seen": self.images_seen}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_same_hparams(checkpoint.get("hyper_parameters", {}), dict(self.hparams))
        self._pending_rng = checkpoint.get("rng")
        counters = checkpoint.get("counters", {})
        self.g_iters = int(counters.get("g_iters", 0))
        self.d_steps = int(counters.get("d_steps", 0))
        self.images_seen = int(counters.get("images_seen", 0))
