"""``run(cfg)``: build data, model, callbacks, loggers and trainer from the composed config,
train, and return the objective metric (for sweepers)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import get_class, instantiate
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict

import ganforge.config  # noqa: F401  (registers resolvers)
from ganforge.callbacks.checkpoint import AtomicCheckpointIO
from ganforge.callbacks.interrupt import StopOnSignal
from ganforge.callbacks.run_length import StopAtGIters
from ganforge.config import check_settings, precision_choice
from ganforge.console import end_of_run_report, interrupted_line
from ganforge.errors import DivergedError, GanforgeError, config_errors
from ganforge.files import open_checkpoint
from ganforge.lightning_internals import completed_epochs
from ganforge.loggers import WANDB_RUN_KEY, GanWandbLogger, RecordWandbRun
from ganforge.models.checkpoints import check_resumable
from ganforge.models.weights import init_weights
from ganforge.resume import latest_checkpoint, resume_checkpoint
from ganforge.surfaces import ChecksBeforeFit, Counted, PairedImages, SuperResolver, class_offers
from ganforge.sweep import (
    SUMMARY,
    in_multirun,
    objective_name,
    objective_value,
    sweep_dir,
    write_job_summary,
    write_sweep_table,
)

log = logging.getLogger(__name__)


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """``instantiate`` with any error of a constructor turned into one line naming the config key."""
    with config_errors(where):
        return instantiate(node, **kwargs)


def build_group(group: DictConfig | None, where: str) -> dict[str, Any]:
    """Every ``_target_`` entry of a group such as ``callbacks`` or ``logger`` by name (null entries skipped)."""
    if not group:
        return {}
    return {name: build(node, f"{where}.{name}") for name, node in group.items() if node and "_target_" in node}


def check_data_kind(model_cfg: DictConfig, datamodule: Any) -> None:
    """Models that learn from (low-res, high-res) pairs (``SuperResolver``) need paired data,
    and the others need samples: say so before building the model, whose own checks would
    otherwise complain about sizes."""
    try:
        pairs = class_offers(get_class(model_cfg._target_), SuperResolver)
    except Exception as err:
        raise GanforgeError(f"model._target_={model_cfg.get('_target_')} is not an importable class ({err})") from err
    paired = isinstance(datamodule, PairedImages)
    if pairs and not paired:
        raise GanforgeError(f"{model_cfg._target_} learns super-resolution from (low-res, high-res) pairs and "
                            f"{type(datamodule).__name__} has none: use data=sr_folder data.root=<folder of photos>")
    if paired and not pairs:
        raise GanforgeError(f"{model_cfg._target_} maps noise to samples, but {type(datamodule).__name__} yields "
                            "(low-res, high-res) pairs for super-resolution: use model=srresnet or model=srgan")


@dataclass
class Built:
    """What ``_fit`` has built so far: ``_finish`` reports from it, also for a run that failed part-way."""

    trainer: L.Trainer | None = None
    model: Any = None
    loggers: list[Any] = field(default_factory=list)
    config: dict[str, Any] | None = None  # the resolved config, as the loggers got it
    started: bool = False  # training began (trainer.fit was called)

    @property
    def is_global_zero(self) -> bool:
        return self.trainer is None or self.trainer.is_global_zero


def run(cfg: DictConfig) -> float | None:
    """Train one run and write its ``summary.json`` (also when it fails), then return the objective.
    A diverged run (``nan_policy: stop``) is recorded as ``diverged``; inside a sweep with an
    objective it returns ``objective_penalty``, so a search ranks it instead of losing the trial.
    Ctrl-C or SIGTERM ends it as ``interrupted`` (exit status 128 + the signal's number) with the
    command that resumes it."""
    built, stopper, started = Built(), StopOnSignal(), time.monotonic()
    try:
        with stopper.handling():
            objective = _fit(cfg, built, stopper)
    except DivergedError as err:
        penalty = float(cfg.get("objective_penalty", 1e6))
        _finish(cfg, built, "diverged", penalty if cfg.get("objective") else None, error=str(err))
        if in_multirun() and cfg.get("objective"):
            print(f"error: {err}", file=sys.stderr)
            log.warning("returning objective_penalty=%g for this diverged job", penalty)
            return penalty
        raise
    except BaseException as err:
        if stopper.signum is None:  # Lightning ends a KeyboardInterrupt with SystemExit(1)
            message = str(err) if isinstance(err, GanforgeError) else f"{type(err).__name__}: {err}"
            _finish(cfg, built, "failed", None, error=message)
            if not built.started and not in_multirun():  # the error is on the console; a sweep's table keeps it
                discard_unstarted_run(Path(cfg.paths.output_dir))
            raise
        objective = None
    if stopper.signum is not None:
        _finish(cfg, built, "interrupted", None)
        g = built.model.g_iters if isinstance(built.model, Counted) else None
        print(interrupted_line(cfg, g, stopper.signum, stopper.stopped_at is None), file=sys.stderr, flush=True)
        sys.exit(128 + stopper.signum)
    _finish(cfg, built, "finished", objective)
    if built.is_global_zero:
        output_dir = Path(cfg.paths.output_dir)
        print(end_of_run_report(cfg, _plain_metrics(built), _checkpoints(output_dir), time.monotonic() - started),
              flush=True)
    return objective


def check_not_finished(cfg: DictConfig, checkpoint: dict[str, Any], where: str) -> None:
    """A resume whose checkpoint already reached the run's length would end at once, looking like
    a run that did nothing: say so, and what to raise."""
    g_done = int(checkpoint.get("counters", {}).get("g_iters", 0))
    if cfg.get("g_iters") is not None and g_done >= int(cfg.g_iters):
        raise GanforgeError(f"{where} is at generator iteration {g_done}, already at or past g_iters={cfg.g_iters}: "
                            f"raise g_iters (e.g. g_iters={2 * g_done}) to train on, or score it with "
                            "python evaluate.py ckpt_path=...")
    max_epochs = cfg.trainer.get("max_epochs")
    epochs_done = completed_epochs(checkpoint)
    if cfg.get("g_iters") is None and max_epochs is not None and epochs_done >= int(max_epochs):
        raise GanforgeError(f"{where} has trained {epochs_done} epochs, already at or past "
                            f"trainer.max_epochs={max_epochs}: raise trainer.max_epochs (e.g. "
                            f"trainer.max_epochs={2 * epochs_done}) to train on")


def _finish(cfg: DictConfig, built: Built, status: str, objective: float | None,
            error: str | None = None) -> None:
    """``summary.json``, the sweep table and the W&B run summary (and model artifacts), then
    ``wandb.finish()`` so each job of a multirun is its own W&B run. A diverged run's objective
    key holds ``objective_penalty`` in the W&B summary, so a W&B sweep can rank it."""
    output_dir = Path(cfg.paths.output_dir)
    metrics = _plain_metrics(built)
    checkpoints = _checkpoints(output_dir)
    try:
        if built.is_global_zero:
            write_job_summary(output_dir, status, metrics, checkpoints, objective, error=error)
            _refresh_sweep_table()
        wandb_loggers = [lg for lg in built.loggers if isinstance(lg, GanWandbLogger)]
        summary = {**metrics, "status": status}
        ranked = objective_name(cfg, metrics)
        if status == "diverged" and ranked and objective is not None:
            summary[ranked] = objective
        for logger in wandb_loggers:
            with config_errors("logger.wandb"):
                logger.finish_run(summary, checkpoints if status != "failed" else {},
                                  {"config": built.config, "status": status})
    finally:
        if any(isinstance(lg, WandbLogger) for lg in built.loggers):
            import wandb

            # A diverged run ends as finished in W&B: its summary holds a value a sweep can rank.
            wandb.finish(exit_code=1 if status == "failed" else 0)


def _plain_metrics(built: Built) -> dict[str, float]:
    """The last value of every scalar metric, with the loop's final counters (the last logging
    step may lie before the end)."""
    trainer = built.trainer
    if trainer is None:
        return {}
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
    model = built.model
    if isinstance(model, Counted):
        metrics.update({"progress/g_iters": float(model.g_iters), "progress/kimg": float(model.kimg)})
    return metrics


def _checkpoints(output_dir: Path) -> dict[str, str]:
    folder = output_dir / "checkpoints"
    found = {"last": folder / "last.ckpt", "best": folder / "best_fid.ckpt"}
    return {k: str(v) for k, v in found.items() if v.is_file()}


def discard_unstarted_run(output_dir: Path) -> None:
    """Remove what Hydra and ganforge wrote for a run that failed before training (its config,
    log and summary), so no directory is left that looks like a run; anything else stays."""
    for name in (".hydra", "train.log", SUMMARY):
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    with contextlib.suppress(OSError):
        output_dir.rmdir()  # only when nothing else is in it


def _refresh_sweep_table() -> None:
    root = sweep_dir()
    if root is not None and root.is_dir():
        write_sweep_table(root)


def _fit(cfg: DictConfig, built: Built, stopper: StopOnSignal) -> float | None:
    """Every check that can fail runs before the first training step."""
    check_settings(cfg, "train")
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path == "latest":
        found = latest_checkpoint(cfg)
        ckpt_path = str(found) if found is not None else None
    if not ckpt_path and cfg.get("auto_resume", True) and int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:
        found = resume_checkpoint(Path(cfg.paths.output_dir))
        if found is not None:
            log.info("resuming from %s (this run directory already has a checkpoint: a requeued job)", found)
            ckpt_path = str(found)
    checkpoint = open_checkpoint(ckpt_path) if ckpt_path else None
    if checkpoint is not None and cfg.get("ckpt_path"):
        check_not_finished(cfg, checkpoint, f"ckpt_path={ckpt_path}")
    # Checkpoints after the step are what we want; a resume writes into its own new run directory.
    quiet = (".*ModelCheckpoint with manual optimization.*", ".*treespec.*", ".*not supported by the model summary.*",
             ".*The dirpath has changed from.*")
    for noise in quiet:
        warnings.filterwarnings("ignore", message=noise)
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)

    datamodule = build(cfg.data, "data")
    check_data_kind(cfg.model, datamodule)
    model = build(cfg.model, "model", sample_shape=list(datamodule.sample_shape),
                  num_classes=datamodule.num_classes, run_length=cfg.get("g_iters"))
    wandb_run_id = None
    if checkpoint is not None:  # another model or other settings: refused now, not inside fit
        check_resumable(model, checkpoint, f"ckpt_path={ckpt_path}")
        wandb_run_id = checkpoint.get(WANDB_RUN_KEY)
        del checkpoint
    if cfg.get("init_from") and ckpt_path:
        log.info("init_from=%s not applied: the run resumes from %s, whose weights replace it", cfg.init_from,
                 ckpt_path)
    elif cfg.get("init_from"):
        init_weights(model, str(cfg.init_from))
    callbacks_by_name = build_group(cfg.get("callbacks"), "callbacks")  # constructors check their settings
    callbacks = [*callbacks_by_name.values(), StopAtGIters(cfg.get("g_iters")), stopper]  # the loop's own unit
    loggers = list(build_group(cfg.get("logger"), "logger").values())
    if any(isinstance(lg, GanWandbLogger) for lg in loggers):
        callbacks.append(RecordWandbRun())  # a resume continues the same W&B run
        for logger in loggers:
            if isinstance(logger, GanWandbLogger) and wandb_run_id:
                logger.continue_run(str(wandb_run_id))
    if not isinstance(model, Counted):
        raise GanforgeError(f"model._target_={cfg.model._target_} is not a ganforge model (no g_iters/kimg counters)")
    # The one pre-flight check: data/model mismatches, optimizer settings and missing weights (the
    # model's before the data is read; each callback's, of what it needs of data and model, after).
    with config_errors("model"):
        model.before_fit(datamodule, model)
    with config_errors("data"):
        datamodule.prepare_data()
        datamodule.setup("fit")
    for name, callback in callbacks_by_name.items():
        if isinstance(callback, ChecksBeforeFit):
            with config_errors(f"callbacks.{name}"):
                callback.before_fit(datamodule, model)
    plugins = [build(node, f"trainer.plugins[{i}]") for i, node in enumerate(cfg.trainer.get("plugins") or [])]
    spawn_ddp_in_a_sweep(cfg)
    trainer: L.Trainer = build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False,
                               plugins=[*plugins, AtomicCheckpointIO()])
    built.trainer, built.model, built.loggers = trainer, model, loggers
    with config_errors("config"):
        resolved = OmegaConf.to_container(cfg, resolve=True)
    built.config = resolved
    for logger in loggers:
        logger.log_hyperparams(resolved)
    length = (f"{cfg.g_iters} generator iterations" if cfg.get("g_iters") is not None
              else f"{cfg.trainer.get('max_epochs')} epochs (trainer.max_epochs)")
    log.info("training %s on %s for %s; run dir %s", type(model.generator).__name__, type(datamodule).__name__,
             length, cfg.paths.output_dir)
    log.info("precision %s", precision_note(str(trainer.precision), str(cfg.trainer.get("accelerator", "auto"))))

    built.started = True
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    if "spawn" in str(cfg.trainer.get("strategy")):
        counters_from_spawned_processes(model, Path(cfg.paths.output_dir))
    return objective_value(cfg, trainer.callback_metrics)


def counters_from_spawned_processes(model: Any, output_dir: Path) -> None:
    """A spawned DDP fit trains in child processes, and Lightning brings rank 0's weights and
    metrics back to this one but not the loop's counters: they come from rank 0's last checkpoint,
    so the report and summary say how far the run went."""
    last = output_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        model.on_load_checkpoint(open_checkpoint(last))


def spawn_ddp_in_a_sweep(cfg: DictConfig) -> None:
    """Lightning's DDP launcher starts each extra process by re-running the command line, which
    under ``-m`` would run the whole sweep again in every process. Inside a sweep, DDP jobs use the
    spawning launcher instead (the same DDP, processes started from this job)."""
    strategy = cfg.trainer.get("strategy")
    if not (in_multirun() and isinstance(strategy, str) and strategy.startswith("ddp")) or "spawn" in strategy:
        return
    if strategy not in ("ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false"):
        raise GanforgeError(f"trainer.strategy={strategy} re-runs the command line in each process, which under -m "
                            "would start the sweep again: use trainer.strategy=ddp_spawn inside a sweep")
    spawned = strategy.replace("ddp", "ddp_spawn", 1)
    log.info("trainer.strategy %s -> %s inside this -m sweep (the %s launcher re-runs the command line)",
             strategy, spawned, strategy)
    with open_dict(cfg):
        cfg.trainer.strategy = spawned


def precision_note(precision: str, accelerator: str) -> str:
    """``<precision> (<why>)``: the automatic choice and its reason, or that the config set it."""
    automatic, reason = precision_choice(accelerator)
    if precision == automatic:
        return f"{precision} (automatic: {reason})"
    return f"{precision} (set by trainer.precision; the automatic choice would be {automatic}: {reason})"
