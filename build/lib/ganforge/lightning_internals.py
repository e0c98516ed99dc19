"""Every use of Lightning's non-public state, in one place. Lightning 2.6 offers no public API for
these; each function names the test that fails if Lightning changes what it relies on.
Imports only Lightning."""

from __future__ import annotations

from typing import Any

import lightning as L


def logs_this_step(trainer: L.Trainer | None) -> bool:
    """Whether Lightning sends this batch's ``self.log`` values to the loggers (every
    ``log_every_n_steps`` batches and the last). Caught by tests/test_train.py (losses in the CSV)."""
    connector = getattr(trainer, "_logger_connector", None)
    return connector is None or bool(connector.should_update_logs)


def logger_step(trainer: L.Trainer) -> int:
    """The step Lightning passes to ``logger.log_metrics`` for ``self.log`` values, so metrics that
    callbacks log land on the same rows. Caught by tests/test_train.py (CSV rows)."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def last_saved_step(checkpoint_callback: Any) -> int:
    """The global step of a ``ModelCheckpoint``'s last save. Caught by tests/test_train.py
    (checkpoint tests)."""
    return checkpoint_callback._last_global_step_saved


def set_step_limit(trainer: L.Trainer, steps: int) -> None:
    """The step limit ``trainer.max_steps`` reads. Lightning restores a mid-epoch data position only
    for runs with a step limit other than -1, and a run stopped any other way is recorded as a
    finished epoch. Caught by tests/test_train.py::test_resume_is_exact and
    test_run_ends_at_g_iters_whatever_n_critic."""
    trainer.fit_loop.epoch_loop.max_steps = steps


def save_checkpoints_now(checkpoint_callback: Any, trainer: L.Trainer, top_k: bool = True) -> None:
    """Make a ``ModelCheckpoint`` save now, outside its own epoch/step cadence (its top-k file when
    ``top_k``, and ``last.ckpt``). Caught by tests/test_train.py (checkpoint tests)."""
    candidates = checkpoint_callback._monitor_candidates(trainer)
    if top_k:
        checkpoint_callback._save_topk_checkpoint(trainer, candidates)
    checkpoint_callback._save_last_checkpoint(trainer, candidates)


def wandb_init_arguments(logger: Any) -> dict[str, Any]:
    """The keyword arguments a ``WandbLogger`` will pass to ``wandb.init`` (a live dict: edits stick).
    Caught by tests/test_wandb.py."""
    return logger._wandb_init


def wandb_run(logger: Any) -> Any:
    """The W&B run a ``WandbLogger`` holds, or None before it starts one. Caught by tests/test_wandb.py."""
    return logger._experiment


def set_wandb_run(logger: Any, run: Any) -> None:
    """Hand a ``WandbLogger`` the run to log to (ours starts it itself, to set its x-axis first), and
    name its periodic checkpoint artifact after it. Caught by tests/test_wandb.py."""
    logger._experiment = run
    logger._checkpoint_name = f"checkpoints-{run.id}"  # log_model=all's periodic ones


def requeues_on_slurm(trainer: L.Trainer) -> bool:
    """Whether Lightning handles this run's signals for SLURM's requeue (its SIGTERM handler is then
    part of that path). Caught by tests/test_bad_input_and_failures.py (the interrupt tests)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    environment = trainer._accelerator_connector.cluster_environment
    return isinstance(environment, SLURMEnvironment) and environment.auto_requeue


def completed_epochs(checkpoint: dict[str, Any]) -> int:
    """The epochs a Lightning checkpoint records as finished (0 when it has no loop state). Caught by
    tests/test_bad_input_and_failures.py (a resume already past its length)."""
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    return int(progress.get("current", {}).get("completed", 0))
