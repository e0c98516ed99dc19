"""Reads the records of an offline W&B run (``run-<id>.wandb``), which W&B 0.31 no longer offers
a reader for: the file is a LevelDB-style log of 32 KiB blocks holding protobuf ``Record``s."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7  # file: b":W&B" + magic (2 bytes) + version (1); record: crc32 (4) + length (2) + type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes) -> Iterator[bytes]:
    assert data[:4] == b":W&B", data[:8]
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk


def read_records(path: Path, timeout: float = 30.0) -> list[wandb_internal_pb2.Record]:
    """All records, once the log is complete (the W&B service, a separate process, may still be
    flushing it after ``wandb.finish()`` returns inside pytest)."""
    deadline = time.monotonic() + timeout
    while True:
        records = []
        for payload in _payloads(path.read_bytes()):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            records.append(record)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def of_type(records: list, kind: str) -> list:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def summary(records: list) -> dict[str, object]:
    """The final run summary: every summary update applied in order."""
    out: dict[str, object] = {}
    for update in of_type(records, "summary"):
        for item in update.update:
            if item.key or len(item.nested_key) == 1:
                out[item.key or item.nested_key[0]] = json.loads(item.value_json)
    return out


def history_keys(records: list) -> set[str]:
    """Logged keys (media such as images and tables are stored as nested fields under their key)."""
    return {item.key or item.nested_key[0] for h in of_type(records, "history") for item in h.item}


def history_values(records: list, key: str, field: str) -> list[object]:
    """Every logged value of ``key``'s ``field`` (e.g. ``samples``' ``captions``), in order."""
    return [json.loads(item.value_json) for h in of_type(records, "history") for item in h.item
            if list(item.nested_key) == [key, field]]
