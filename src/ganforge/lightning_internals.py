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
    """The step limit ``trainer.max_steps`` reads. Ending a run at one stops it at this step, even
    inside an epoch (``trainer.should_stop`` waits for the epoch's end); ``reopen_interrupted_epoch``
    makes such a run's checkpoint resume that epoch. Caught by tests/test_train.py::test_resume_is_exact and
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


def _fit_loop_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return checkpoint.get("loops", {}).get("fit_loop", {})


def stopped_inside_an_epoch(checkpoint: dict[str, Any]) -> bool:
    """Whether the checkpoint was saved by a run that a step limit ended inside an epoch (Ctrl-C,
    SIGTERM, ``g_iters``). Lightning then runs its epoch-end bookkeeping anyway, so the checkpoint
    counts the interrupted epoch as finished while its batch position is part-way through it.
    Caught by tests/test_train.py::test_resume_of_an_epoch_bounded_run_finishes_the_interrupted_epoch."""
    state = _fit_loop_state(checkpoint)
    batches = state.get("epoch_loop.batch_progress", {})
    epochs = state.get("epoch_progress", {})
    if batches.get("is_last_batch", True) or not batches.get("current", {}).get("completed", 0):
        return False
    counts = [epochs.get(part, {}) for part in ("total", "current")]
    return all(len({c.get(k) for k in ("ready", "started", "processed", "completed")}) == 1 and c.get("ready", 0) >= 1
               for c in counts)


def reopen_interrupted_epoch(checkpoint: dict[str, Any]) -> None:
    """Edit a checkpoint that ``stopped_inside_an_epoch`` (before Lightning restores its loops) so it
    reads as a save in the middle of that epoch, the state Lightning's own mid-epoch saves have:
    the resumed run then trains the rest of the epoch, counts it once, and keeps its epoch budget."""
    if stopped_inside_an_epoch(checkpoint):
        for counts in _fit_loop_state(checkpoint)["epoch_progress"].values():
            counts["processed"] = counts["completed"] = counts["started"] - 1


def completed_epochs(checkpoint: dict[str, Any]) -> int:
    """The epochs a Lightning checkpoint has finished (0 when it has no loop state), not counting an
    epoch a step limit interrupted. Caught by tests/test_bad_input_and_failures.py (a resume already
    past its length)."""
    progress = _fit_loop_state(checkpoint).get("epoch_progress", {})
    done = int(progress.get("current", {}).get("completed", 0))
    return done - 1 if stopped_inside_an_epoch(checkpoint) else done
