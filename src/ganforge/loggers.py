"""Logger factories whose choices happen at run time, not in YAML."""

from __future__ import annotations

import logging
import netrc
import os
import socket
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)


def _wandb_server() -> tuple[str, int]:
    """(host, port) of the W&B server: WANDB_BASE_URL for self-hosted ones, else api.wandb.ai:443."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    return url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)


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
        return env
    if mode != "auto":
        return mode
    if has_wandb_credentials() and reachable(*_wandb_server()):
        return "online"
    return "offline"


def wandb_logger(mode: str = "auto", **kwargs) -> WandbLogger:
    """A WandbLogger in the resolved mode; offline runs say how to upload them later."""
    resolved = resolve_wandb_mode(mode)
    if resolved == "offline":
        save_dir = kwargs.get("save_dir") or "."
        log.warning("W&B is offline (no login or no network); upload later with: wandb sync %s/wandb/offline-run-*",
                    save_dir)
    return WandbLogger(mode=resolved, **kwargs)
