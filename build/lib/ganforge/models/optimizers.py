"""Optimizers from their configs: torch's multi-tensor path by default, and a setting torch refuses
named by its config key before any training."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch
from hydra.utils import instantiate

from ganforge.errors import config_errors


def multi_tensor_default(make: Any) -> dict[str, Any]:
    """``{"foreach": True}`` for a torch optimizer that takes it, unless its config chose
    ``foreach``, ``fused`` or ``differentiable`` (which the multi-tensor path does not support).
    On the CPU PyTorch defaults to its per-tensor loop; the multi-tensor (foreach) path takes the
    same steps in fewer calls, which shows on small nets; on CUDA it is already the default.
    Kept out of the configs so that checkpoints' hparams do not change."""
    func = getattr(make, "func", make)
    chosen = getattr(make, "keywords", {}) or {}
    try:
        accepts = "foreach" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}
    if not accepts or chosen.get("foreach") is not None or chosen.get("fused") or chosen.get("differentiable"):
        return {}
    return {"foreach": True}


def build_optimizers(specs: Iterable[tuple[str, Any, Any]]) -> list[torch.optim.Optimizer]:
    """One optimizer per (config key, optimizer config, parameters)."""
    built = []
    for key, node, params in specs:
        with config_errors(key):
            make = instantiate(node)
            built.append(make(params, **multi_tensor_default(make)))
    return built
