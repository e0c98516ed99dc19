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


def register_resolvers() -> None:
    for name, fn in {"optimizer_steps": optimizer_steps, "auto_precision": auto_precision}.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
