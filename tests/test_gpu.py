"""CUDA-only checks (skipped without a GPU): bf16 mixed precision and channels_last in the real loop."""

import math
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose_cfg, data_overrides

from ganforge.train import run


@pytest.mark.gpu
def test_bf16_channels_last_training_on_cuda(tmp_path, data_root):
    assert torch.cuda.is_bf16_supported()
    cfg = compose_cfg(tmp_path, ["model=dcgan", *data_overrides("mnist", data_root), *TINY,
                                 "trainer=gpu", "logger=csv"])
    assert cfg.trainer.precision == "bf16-mixed"  # the default resolver picks bf16 on this GPU
    run(cfg)
    out = Path(cfg.paths.output_dir)
    text = (out / "csv" / "metrics.csv").read_text().splitlines()
    header, last = text[0].split(","), text[-1].split(",")
    values = {k: float(v) for k, v in zip(header, last) if v}
    assert all(math.isfinite(v) for v in values.values())
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["counters"]["g_iters"] == 3
