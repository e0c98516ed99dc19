"""Stops a run whose losses or weights stop being finite (``nan_policy: stop``), so a diverged
run neither trains on for hours nor overwrites ``last.ckpt`` with broken weights; with
``nan_policy: warn`` it says so once and lets the run go on."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ganforge.errors import DivergedError, GanforgeError

log = logging.getLogger(__name__)
POLICIES = ("stop", "warn")


def non_finite(values: dict[str, Any]) -> dict[str, float]:
    """The entries of ``values`` (tensors or numbers) that are NaN or infinite; one device sync."""
    tensors = {k: v for k, v in values.items() if isinstance(v, torch.Tensor)}
    bad = {k: float(v) for k, v in values.items() if k not in tensors and not math.isfinite(float(v))}
    if tensors:
        finite = torch.stack([torch.isfinite(v.detach()).all() for v in tensors.values()])
        if not bool(finite.all()):
            bad.update({k: float(v.detach().float().reshape(-1)[0]) if v.numel() == 1 else math.nan
                        for k, v in tensors.items() if not bool(torch.isfinite(v).all())})
    return bad


def last_good_checkpoint(trainer: L.Trainer) -> str:
    callback = trainer.checkpoint_callback
    path = getattr(callback, "last_model_path", "") if callback is not None else ""
    return path if path and Path(path).is_file() else "none (no checkpoint was written before)"


class DivergenceGuard(L.Callback):
    """Checks what the training step logged (its ``outputs``, on logging steps only: no extra GPU
    sync on the other steps) and the weights of every checkpoint before it is written."""

    def __init__(self, policy: str = "stop") -> None:
        if policy not in POLICIES:
            raise GanforgeError(f"nan_policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.policy = policy
        self.warned = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not outputs:
            return
        bad = non_finite({k: v for k, v in outputs.items() if k.startswith("train/")})
        # Under DDP every rank stops together when any rank's losses broke (one reduce, logging steps only).
        if trainer.strategy.reduce_boolean_decision(bool(bad), all=False):
            shown = ", ".join(f"{k.removeprefix('train/')}={v:.4g}" for k, v in bad.items()) or "on another rank"
            self._diverged(trainer, f"losses became non-finite at generator iteration {pl_module.g_iters} ({shown})")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        weights = {k: v for k, v in checkpoint.get("state_dict", {}).items()
                   if isinstance(v, torch.Tensor) and v.is_floating_point()}
        bad = non_finite(weights)
        if bad:
            names = ", ".join(list(bad)[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            self._diverged(trainer, f"weights became non-finite at generator iteration {pl_module.g_iters} ({names})")

    def _diverged(self, trainer: L.Trainer, what: str) -> None:
        message = f"{what}; last good checkpoint: {last_good_checkpoint(trainer)}"
        if self.policy == "stop":
            raise DivergedError(message + ". Lower the learning rates, or set nan_policy=warn to train on")
        if not self.warned:
            self.warned = True
            log.warning("%s; training goes on (nan_policy=warn)", message)
