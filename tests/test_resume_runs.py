"""ckpt_path=latest finds the newest run of the same command, and a resumed run continues its W&B run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from conftest import TINY, TINY_NETS, compose_cfg, data_overrides
from test_wandb import offline_run
from wandb_records import of_type

from ganforge.train import run

BASE = ["model=dcgan", *TINY_NETS["dcgan"], *TINY]


def train(tmp_path: Path, data_root: Path, name: str, *extra: str) -> Path:
    run_dir = tmp_path / "outputs" / "train" / "runs" / name
    run(compose_cfg(tmp_path, [*BASE, *data_overrides("mnist", data_root), *extra, f"paths.output_dir={run_dir}"]))
    return run_dir


def logged(records: list, key: str) -> list[float]:
    return [float(json.loads(item.value_json)) for h in of_type(records, "history") for item in h.item
            if item.key == key or list(item.nested_key) == [key]]


def g_iters(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["counters"]["g_iters"]


def test_ckpt_path_latest_resumes_the_newest_run_of_the_same_overrides(tmp_path, data_root, caplog):
    caplog.set_level(logging.INFO, logger="ganforge")
    train(tmp_path, data_root, "a", "seed=1")
    train(tmp_path, data_root, "b", "seed=2")  # another command: not a candidate
    resumed = train(tmp_path, data_root, "c", "seed=1", "ckpt_path=latest", "g_iters=5")
    assert "resuming" in caplog.text and "/runs/a/checkpoints/last.ckpt" in caplog.text
    assert g_iters(resumed) == 5
    # the resume is now the newest run of that command: the next one continues from it
    again = train(tmp_path, data_root, "d", "seed=1", "ckpt_path=latest", "g_iters=7")
    assert "/runs/c/checkpoints/last.ckpt" in caplog.text and g_iters(again) == 7
    # nothing to resume: a new run, said in the log
    fresh = train(tmp_path, data_root, "e", "seed=3", "ckpt_path=latest")
    assert "no earlier run of these overrides" in caplog.text and g_iters(fresh) == 3


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, data_root, monkeypatch):
    first_cfg, first = offline_run(tmp_path / "first", monkeypatch, "dcgan", "mnist", data_root)
    ckpt = Path(first_cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    run_id = torch.load(ckpt, weights_only=True)["wandb_run_id"]
    (first_dir,) = Path(first_cfg.paths.output_dir).glob("wandb/offline-run-*")
    assert first_dir.name.endswith(run_id)
    second_cfg, second = offline_run(tmp_path / "second", monkeypatch, "dcgan", "mnist", data_root,
                                     f"ckpt_path={ckpt}", "g_iters=5")
    (second_dir,) = Path(second_cfg.paths.output_dir).glob("wandb/offline-run-*")
    assert second_dir.name.endswith(run_id)  # the same run id: W&B appends to that run
    before, after = logged(first, "progress/kimg"), logged(second, "progress/kimg")
    assert before and after and min(after) > max(before)  # the x-axis goes on
