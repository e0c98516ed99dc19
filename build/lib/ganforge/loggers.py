"""Logger factories whose choices happen at run time, not in YAML."""

from __future__ import annotations

import logging
import netrc
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from ganforge.errors import GanforgeError, SettingError, one_line
from ganforge.lightning_internals import set_wandb_run, wandb_init_arguments, wandb_run

log = logging.getLogger(__name__)


WANDB_MODES = ("online", "offline", "disabled", "dryrun", "run", "shared")


def _wandb_server() -> tuple[str, int]:
    """(host, port) of the W&B server: WANDB_BASE_URL for self-hosted ones, else api.wandb.ai:443."""
    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    try:
        url = urlparse(base)
        return url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)
    except ValueError as err:
        raise GanforgeError(f"WANDB_BASE_URL={base!r} is not a URL W&B can use ({err}): set it to the "
                            "server's address, e.g. https://wandb.example.com, or unset it") from None


def wandb_environment() -> str:
    """The W&B variables set in this environment (the API key's value left out), for error messages."""
    names = sorted(k for k in os.environ if k.startswith("WANDB_"))
    return ", ".join(f"{k}=<set>" if k == "WANDB_API_KEY" else f"{k}={os.environ[k]!r}" for k in names)


def has_wandb_credentials() -> bool:
    """An API key in the environment or in ~/.netrc for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(_wandb_server()[0]) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_wandb_mode(mode: str = "auto") -> str:
    """``WANDB_MODE`` wins; ``auto`` is online only with credentials and a reachable host (a
    3-second probe), so a run never blocks on W&B's ~100 s network timeout."""
    env = os.environ.get("WANDB_MODE")
    if env:
        if env not in WANDB_MODES:
            raise GanforgeError(f"WANDB_MODE={env!r} is not a W&B mode: use one of {', '.join(WANDB_MODES[:3])} "
                                "or unset it (ganforge then picks online or offline)")
        return env
    if mode != "auto":
        return mode
    if has_wandb_credentials() and reachable(*_wandb_server()):
        return "online"
    return "offline"


# Every chart of a run is drawn against one counter of the loop (images seen, or generator
# iterations), so runs with any n_critic, batch size or number of GPUs line up; Lightning's own
# x-axis is the optimizer step, which counts critic steps too.
STEP_METRICS = ("progress/kimg", "progress/g_iters")
AXIS_GLOBS = ("train/*", "val/*", "best/*", "progress/*", "samples*", "trainer/*")


def define_axes(run: Any, step_metric: str) -> None:
    """Make ``step_metric`` the x-axis of every key the loop and its callbacks log."""
    run.define_metric(step_metric)
    for pattern in AXIS_GLOBS:
        run.define_metric(pattern, step_metric=step_metric, step_sync=True)


class GanWandbLogger(WandbLogger):
    """Lightning's ``WandbLogger`` with the run's x-axis set to ``step_metric`` at creation and the
    final checkpoints uploaded as model artifacts (``log_model``: false, ``best``: ``best_fid.ckpt``
    and ``last.ckpt`` at the end, ``all``: also every periodic checkpoint as it is written, through
    Lightning's own ``after_save_checkpoint``). ``best_fid.ckpt`` is written by the evaluation
    callback, not by a ``ModelCheckpoint``, so Lightning's scan cannot find it: the end-of-run
    upload is ours."""

    def __init__(self, step_metric: str = "progress/kimg", log_model: bool | str = False, **kwargs: Any) -> None:
        if step_metric not in STEP_METRICS:
            raise SettingError(f"step_metric must be one of {', '.join(STEP_METRICS)}, got {step_metric!r}")
        if log_model not in (False, True, "best", "all"):
            raise SettingError(f"log_model must be false, best or all, got {log_model!r}")
        super().__init__(log_model="all" if log_model == "all" else False, **kwargs)
        init = wandb_init_arguments(self)
        if init.get("anonymous") is None:  # W&B 0.31 warns about the setting even when unset
            init.pop("anonymous", None)
        self.step_metric = step_metric
        self.upload_final = log_model in (True, "best", "all")
        self.offline_note: str | None = None  # said when the run starts, after the checks before training

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if wandb_run(self) is None:
            import wandb

            # wandb.init directly (not super()): Lightning's property would make its optimizer-step
            # counter the x-axis of every key ("*").
            if wandb.run is not None:
                run = wandb.run
            else:
                if self.offline_note:
                    log.warning(self.offline_note)
                try:
                    run = wandb.init(**wandb_init_arguments(self))
                except Exception as err:  # noqa: BLE001  (W&B's own settings errors, from its environment)
                    variables = wandb_environment()
                    raise GanforgeError(f"W&B could not start a run: {one_line(err)}" + (
                        f" (W&B variables in this environment: {variables})" if variables else "")) from err
            define_axes(run, self.step_metric)
            set_wandb_run(self, run)
        return wandb_run(self)

    def continue_run(self, run_id: str) -> None:
        """Log into the W&B run a resumed checkpoint recorded (``resume="allow"``), so its charts go
        on along the same x-axis instead of a second run starting at zero."""
        init = wandb_init_arguments(self)
        init["id"], init["resume"] = run_id, "allow"
        log.info("W&B: continuing run %s", run_id)

    @rank_zero_only
    def finish_run(self, summary: dict[str, Any], checkpoints: dict[str, str],
                   metadata: dict[str, Any] | None = None) -> None:
        """Write the run summary (headline numbers the runs table sorts by) and, with ``log_model``,
        upload ``best_fid.ckpt`` (aliases ``best``) and ``last.ckpt`` (``last``, ``latest``) as one
        model artifact ``model-<run id>`` whose metadata holds kimg, FID and the config."""
        run = wandb_run(self)
        if run is None:
            return
        run.summary.update({k: v for k, v in summary.items() if v is not None})
        if not self.upload_final:
            return
        import wandb

        for role, aliases in (("best", ["best"]), ("last", ["last", "latest"])):
            path = checkpoints.get(role)
            if not path or not Path(path).is_file():
                continue
            keys = ("best/fid_kimg", "best/fid_g_iters", "best/fid") if role == "best" else (
                "progress/kimg", "progress/g_iters", "val/fid")
            info = {**(metadata or {}), "original_filename": Path(path).name,
                    **{name: summary.get(key) for name, key in zip(("kimg", "g_iters", "fid"), keys)}}
            artifact = wandb.Artifact(name=f"model-{run.id}", type="model",
                                      metadata={k: v for k, v in info.items() if v is not None})
            artifact.add_file(path, name=Path(path).name)
            run.log_artifact(artifact, aliases=aliases)
            log.info("W&B model artifact model-%s:%s <- %s", run.id, aliases[0], path)


WANDB_RUN_KEY = "wandb_run_id"


class RecordWandbRun(L.Callback):
    """Writes the W&B run's id into every checkpoint, so a resume of it continues that run."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            run = wandb_run(logger) if isinstance(logger, GanWandbLogger) else None
            if run is not None:
                checkpoint[WANDB_RUN_KEY] = run.id


def wandb_logger(mode: str = "auto", **kwargs: Any) -> GanWandbLogger:
    """A ``GanWandbLogger`` in the resolved mode; offline runs say how to upload them later."""
    resolved = resolve_wandb_mode(mode)
    logger = GanWandbLogger(mode=resolved, **kwargs)
    if resolved == "offline":
        save_dir = kwargs.get("save_dir") or "."
        logger.offline_note = (f"W&B is offline (no login or no network); upload later with: wandb sync "
                               f"{save_dir}/wandb/offline-run-*")
    return logger


class KimgTensorBoardLogger(TensorBoardLogger):
    """TensorBoard with images seen (1,000 x kimg) as the step of every scalar that is logged
    together with ``progress/kimg`` (all of the loop's and callbacks' metrics), so curves of runs
    with different ``n_critic`` line up as in W&B. TensorBoard steps are integers, hence images
    rather than kimg."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        kimg = metrics.get("progress/kimg")
        if kimg is not None:
            step = round(float(kimg) * 1000)
        super().log_metrics(metrics, step)
