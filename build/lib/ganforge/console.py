"""What a training run tells its user on the console when it ends: where its files are, its final
metrics, and the commands that go on from it (resume, evaluate, train longer)."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from ganforge.sweep import TABLE_METRICS, job_overrides


def resume_command(checkpoint: Path | str, *extra: str) -> str:
    """``python train.py <this run's overrides> <extra> ckpt_path=<checkpoint>``, ready to paste (an
    override of a key that ``extra`` sets again is left out)."""
    replaced = {"ckpt_path", *(e.split("=", 1)[0].lstrip("+~") for e in extra)}
    overrides = [o for o in job_overrides() if o.split("=", 1)[0].lstrip("+~") not in replaced]
    return " ".join(shlex.quote(a) for a in ["python", "train.py", *overrides, *extra, f"ckpt_path={checkpoint}"])


def interrupted_line(cfg: DictConfig, g_iters: int | None, signum: int | None, at_once: bool) -> str:
    """One line: where an interrupted run stopped and the command that resumes it."""
    name = signal.Signals(signum).name if signum else "signal"
    if g_iters is None:
        return f"interrupted ({name}) before training started; nothing was saved"
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return f"interrupted ({name}) at generator iteration {g_iters}, before the first checkpoint; nothing to resume"
    held = " (stopped at once, within an iteration)" if at_once else ""
    return f"interrupted ({name}) at generator iteration {g_iters}{held}; resume with: {resume_command(last)}"


def end_of_run_report(cfg: DictConfig, metrics: dict[str, Any], checkpoints: dict[str, str], seconds: float) -> str:
    """What a finished run leaves and what to do next."""
    output_dir = Path(cfg.paths.output_dir)
    lines = [f"finished: {int(metrics.get('progress/g_iters', 0))} generator iterations "
             f"({metrics.get('progress/kimg', 0.0):.1f} kimg) in {seconds / 60:.1f} min; run dir {output_dir}"]
    samples = output_dir / "samples"
    if samples.is_dir():
        lines.append(f"  samples:       {samples}")
    for key, label in (("last", "last.ckpt"), ("best", "best_fid.ckpt")):
        if key in checkpoints:
            lines.append(f"  {label + ':':<14} {checkpoints[key]}")
    shown = [f"{k} {metrics[k]:.4g}" for k in TABLE_METRICS if k in metrics]
    if shown:
        lines.append(f"  final metrics: {', '.join(shown)}")
        caveat = _features_caveat(cfg)
        if caveat and any(k.startswith("val/") for k in metrics):
            lines.append(f"                 ({caveat})")
    if "last" in checkpoints:
        scored = checkpoints.get("best", checkpoints["last"])
        lines.append(f"  evaluate:      python evaluate.py ckpt_path={shlex.quote(scored)}")
        more = (f"g_iters={2 * int(cfg.g_iters)}" if cfg.get("g_iters") is not None
                else f"trainer.max_epochs={2 * int(cfg.trainer.get('max_epochs') or 1)}")
        lines.append(f"  train on:      {resume_command(checkpoints['last'], more)}")
    return "\n".join(lines)


def _features_caveat(cfg: DictConfig) -> str | None:
    """What the configured feature extractor says about its numbers (random_conv: not an FID)."""
    target = OmegaConf.select(cfg, "metrics.extractor._target_")
    try:
        return getattr(get_object(target), "caveat", None) if target else None
    except Exception:  # noqa: BLE001  (a target that does not import: the run already said so)
        return None
