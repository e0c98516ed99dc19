"""``run(cfg)``: build data, model, callbacks, loggers and trainer from the composed config,
train, and return the objective metric (for sweepers)."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

import ganforge.config  # noqa: F401  (registers resolvers)
from ganforge.errors import GanforgeError

log = logging.getLogger(__name__)


def _root_cause(err: BaseException) -> BaseException:
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return err


def build(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """``instantiate`` with errors from constructors turned into one message naming the config key."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = _root_cause(err)
        if isinstance(cause, GanforgeError):
            raise cause from None
        if isinstance(cause, (ValueError, TypeError)) and cause is not err:
            raise GanforgeError(f"{where}: {cause}") from err
        raise GanforgeError(f"{where}: {err}") from err
    except InterpolationResolutionError as err:  # a resolver's own check (e.g. pretrain_steps vs g_iters)
        cause = err.__cause__ if isinstance(err.__cause__, ValueError) else err
        raise GanforgeError(f"{where}: {cause}") from err


def build_all(group: DictConfig | None, where: str) -> list[Any]:
    """Every ``_target_`` entry of a group such as ``callbacks`` or ``logger`` (null entries skipped)."""
    if not group:
        return []
    return [build(node, f"{where}.{name}") for name, node in group.items() if node and "_target_" in node]


def check_data_kind(model_cfg: DictConfig, datamodule: Any) -> None:
    """Models that learn from (low-res, high-res) pairs (``learns_from_pairs``) need paired data,
    and the others need samples: say so before building the model, whose own checks would
    otherwise complain about sizes."""
    try:
        pairs = bool(getattr(get_class(model_cfg._target_), "learns_from_pairs", False))
    except Exception as err:
        raise GanforgeError(f"model._target_={model_cfg.get('_target_')} is not an importable class ({err})") from err
    paired = bool(getattr(datamodule, "paired", False))
    if pairs and not paired:
        raise GanforgeError(f"{model_cfg._target_} learns super-resolution from (low-res, high-res) pairs and "
                            f"{type(datamodule).__name__} has none: use data=sr_folder data.root=<folder of photos>")
    if paired and not pairs:
        raise GanforgeError(f"{model_cfg._target_} maps noise to samples, but {type(datamodule).__name__} yields "
                            "(low-res, high-res) pairs for super-resolution: use model=srresnet or model=srgan")


def run(cfg: DictConfig) -> float | None:
    """Train one run. Every check that can fail runs before the first training step."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(ckpt_path).is_file():
        raise GanforgeError(f"ckpt_path={ckpt_path} does not exist")
    if cfg.get("g_iters") is not None and int(cfg.g_iters) < 1:
        raise GanforgeError(f"g_iters must be a positive number of generator iterations, got {cfg.g_iters}")
    for noise in (".*ModelCheckpoint with manual optimization.*", ".*treespec.*"):
        warnings.filterwarnings("ignore", message=noise)  # checkpoints after the step are what we want
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)

    datamodule = build(cfg.data, "data")
    check_data_kind(cfg.model, datamodule)
    model = build(cfg.model, "model", sample_shape=list(datamodule.sample_shape),
                  num_classes=datamodule.num_classes)
    if hasattr(model, "before_fit"):  # data/model mismatches and missing weights, before the data is read
        model.before_fit(datamodule)
    datamodule.prepare_data()
    datamodule.setup("fit")

    callbacks = build_all(cfg.get("callbacks"), "callbacks")
    for callback in callbacks:  # checks that need the data (e.g. metric weights), before any training
        if hasattr(callback, "before_fit"):
            callback.before_fit(datamodule)
    loggers = build_all(cfg.get("logger"), "logger")
    trainer: L.Trainer = build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)
    log.info("training %s on %s for %s generator iterations (trainer.max_steps=%s); run dir %s",
             type(model.generator).__name__, type(datamodule).__name__, cfg.get("g_iters"),
             trainer.max_steps, cfg.paths.output_dir)

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
            import wandb

            wandb.finish()  # one W&B run per job, also between multirun jobs

    objective = cfg.get("objective")
    value = trainer.callback_metrics.get(objective) if objective else None
    return float(value) if value is not None else None


@contextlib.contextmanager
def user_errors_to_exit() -> Iterator[None]:
    """Print a ``GanforgeError`` as one line on stderr and exit with status 2 (no traceback)."""
    try:
        yield
    except GanforgeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
