"""Checkpoint helpers shared by the LightningModules: RNG state as plain tensors (so checkpoints
load with ``weights_only=True``) and the refusal to resume under silently changed hparams."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError


def capture_rng() -> dict[str, Any]:
    """Every RNG a training step may draw from, as tensors and plain Python values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), py[-1]))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# How the model runs, not what it is: a run may resume with these changed (e.g. on another device).
# generator_ckpt only gives starting weights, which the resumed checkpoint replaces.
EXECUTION_KEYS = frozenset({"compile", "channels_last", "generator_ckpt"})
# Settings added after checkpoints already existed, with the value that reproduces the old behaviour.
ADDED_LATER = {"pack": 1}


def check_same_hparams(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume when the model's hyperparameters differ from the checkpoint's."""
    # Checkpoints from before a setting existed behaved as its default (for modules that have it).
    saved = {**{k: v for k, v in ADDED_LATER.items() if k in current}, **saved}
    changed = sorted(k for k in (set(saved) | set(current)) - EXECUTION_KEYS if saved.get(k) != current.get(k))
    if changed:
        detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in changed)
        raise GanforgeError(
            f"the checkpoint was trained with other model settings ({detail}). Resume with the run's own "
            "overrides (see .hydra/overrides.yaml in its run directory), or start a new run"
        )
