"""Sending metrics computed by callbacks (not by ``training_step``) to every logger."""

from __future__ import annotations

import lightning as L
import torch

from ganforge.lightning_internals import logger_step


def publish(trainer: L.Trainer, pl_module: L.LightningModule, metrics: dict[str, float]) -> None:
    """Log ``metrics`` with the generator-iteration and kimg counters at the trainer's logging
    step, and expose them in ``trainer.callback_metrics`` (read by ``objective`` and sweepers)."""
    payload = {**metrics, "progress/g_iters": float(pl_module.g_iters), "progress/kimg": float(pl_module.kimg)}
    for logger in trainer.loggers:  # Lightning's loggers write on rank 0 only
        logger.log_metrics(payload, step=logger_step(trainer))
    trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
