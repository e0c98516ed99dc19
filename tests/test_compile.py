"""Compiled nets (``model.compile=true``, as the 2-D GAN presets set it): what cannot be compiled
stays eager, and the presets train compiled. A missing C++ compiler: tests/test_bad_input_and_failures.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from conftest import compose_cfg
from torch import nn

from ganforge.models.gan import critic_compile_obstacle
from ganforge.train import run


def test_a_critic_under_double_backward_penalties_or_spectral_norm_is_not_compiled():
    plain = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    assert critic_compile_obstacle(plain, {}) is None
    assert critic_compile_obstacle(plain, {"drift": None}) is None  # E[D(x)^2]: no second backward
    for name in ("gradient_penalty", "dragan", "r1"):
        assert name in critic_compile_obstacle(plain, {name: None, "drift": None})
    normalised = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(2, 8)), nn.Linear(8, 1))
    assert "spectral norm" in critic_compile_obstacle(normalised, {})


@pytest.mark.slow
@pytest.mark.parametrize(("args", "critic_compiled"), [
    (["experiment=ring8_gan"], True),  # the preset: compiled nets, fused Adam
    (["experiment=ring8_wgan_gp", "model.compile=true"], False),
    (["experiment=ring8_sngan", "model.compile=true"], False)])
def test_2d_presets_train_compiled_and_a_critic_that_cannot_be_stays_eager(tmp_path, caplog, args, critic_compiled):
    cfg = compose_cfg(tmp_path, [*args, "trainer=cpu", "g_iters=20", "logger=csv", "objective=null",
                                 "callbacks.mode_coverage=null", "callbacks.samples=null",
                                 "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
                                 "trainer.enable_model_summary=false"])
    with caplog.at_level(logging.INFO, logger="ganforge.models.gan"):
        run(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert ("the discriminator stays uncompiled" in caplog.text) is not critic_compiled
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["counters"]["g_iters"] == 20
    fused = [bool(group.get("fused")) for state in checkpoint["optimizer_states"] for group in state["param_groups"]]
    assert fused == [critic_compiled] * 2  # the GAN presets chose fused Adam; the others keep their own
