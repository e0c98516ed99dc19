"""OmegaConf resolvers used by the configs; importing this module registers them."""

from __future__ import annotations

from omegaconf import OmegaConf


def optimizer_steps(g_iters: int | None, n_critic: int, pretrain: int = 0) -> int:
    """Lightning ``global_step`` after ``g_iters`` generator iterations: each takes ``n_critic``
    discriminator steps and one generator step, except the first ``pretrain`` (generator only,
    SRGAN's SRResNet phase). ``None`` -> -1 (no step limit)."""
    if g_iters is None:
        return -1
    pretrain = int(pretrain or 0)
    if pretrain > int(g_iters):
        raise ValueError(f"model.pretrain_steps ({pretrain}) is longer than the run (g_iters={g_iters})")
    return pretrain + (int(g_iters) - pretrain) * (int(n_critic) + 1)


def auto_precision(accelerator: str = "auto") -> str:
    """bf16 mixed precision on CUDA GPUs that support it, fp32 everywhere else."""
    import torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def sweep_group() -> str | None:
    """The W&B group of a ``-m`` job: ``<task>-<sweep directory name>``; None for a single run."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    config = HydraConfig.get()
    return f"{config.job.name}-{Path(config.sweep.dir).name}"


def sqlite_url(path: str) -> str:
    """``sqlite:///<absolute path>`` with the parent folder created (SQLite does not create it)."""
    from pathlib import Path

    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def launch_dir() -> str:
    """The directory train.py was started in (jobs do not chdir). Unlike ``${hydra:runtime.cwd}`` it
    also resolves where a sweeper builds itself, before Hydra sets up any job (the sweep directory
    and the Optuna storage path are resolved there)."""
    import os

    return os.getcwd()


def register_resolvers() -> None:
    resolvers = {"optimizer_steps": optimizer_steps, "auto_precision": auto_precision, "sweep_group": sweep_group,
                 "sqlite_url": sqlite_url, "launch_dir": launch_dir}
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
