"""Files the run writes for later (checkpoints, caches, summaries) appear whole or not at all:
each is written to a temporary name in the same folder and renamed over the target, which is
atomic on POSIX file systems, so a kill during a write never leaves a truncated file where a
good one was.

Also ``open_checkpoint``: the one way a checkpoint file is read, turning every way it can be
bad into one ``GanforgeError`` line that names the file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import GanforgeError, one_line


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renamed to ``path`` when the block succeeds,
    removed when it fails. Unique per call, so processes writing the same target never share it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def torch_save_atomic(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def open_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """The checkpoint's contents (plain data, ``weights_only=True``), or a ``GanforgeError`` that
    says in one line which file is wrong and how: missing, a folder, empty, not a PyTorch
    checkpoint, truncated, holding code objects, or not written by ganforge."""
    path = Path(path).expanduser()
    where = f"{key}={path}"
    if not path.exists():
        raise GanforgeError(f"{where} does not exist")
    if path.is_dir():
        raise GanforgeError(f"{where} is a folder; point it at a .ckpt file (e.g. <run>/checkpoints/last.ckpt)")
    size = path.stat().st_size
    if size == 0:
        raise GanforgeError(f"{where} is empty (0 bytes): the file was not written completely")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise GanforgeError(f"{where} is not a checkpoint (not a PyTorch zip file); use a .ckpt file that "
                            "train.py wrote")
    if not zipfile.is_zipfile(path):
        raise GanforgeError(f"{where} is truncated ({size} bytes, no zip directory at its end): a copy or "
                            "a write stopped part-way; use another checkpoint of the run")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure of the loader becomes one line below
        text = str(err)
        if "weights_only" in text or "Unsupported global" in text or "Weights only load failed" in text:
            raise GanforgeError(f"{where} holds Python objects beyond tensors and plain data, which ganforge "
                                "checkpoints never do; it is refused, because loading it would run code from "
                                "the file") from None
        raise GanforgeError(f"{where} is damaged and cannot be read ({one_line(text)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise GanforgeError(f"{where} is a PyTorch file but not a checkpoint of a ganforge model (it has no "
                            "state_dict and hyper_parameters)")
    return checkpoint

