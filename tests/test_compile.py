"""Compiled nets (``model.compile=true``, as the 2-D GAN presets set it): penalties run their critic
passes eagerly, a critic that cannot be compiled stays eager, and the presets train compiled.
A missing C++ compiler: tests/test_bad_input_and_failures.py."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import torch
from conftest import compose_cfg
from torch import nn

from ganforge.models.gan import GAN, critic_compile_obstacle
from ganforge.penalties import get_penalty
from ganforge.train import run


def test_only_a_spectral_norm_critic_stays_eager():
    plain = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    assert critic_compile_obstacle(plain) is None
    normalised = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(2, 8)), nn.Linear(8, 1))
    assert "spectral norm" in critic_compile_obstacle(normalised)


@pytest.mark.parametrize("name", ["gradient_penalty", "dragan", "r1"])
def test_a_compiled_critic_takes_the_double_backward_penalties_with_the_eager_gradients(name):
    """The penalties differentiate the critic's input gradient again, which compiled graphs cannot:
    the loop runs their critic passes eagerly, so a compiled critic trains under them, with the
    gradients of the uncompiled one."""
    torch.manual_seed(0)
    eager = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    compiled = copy.deepcopy(eager)
    compiled.compile()
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    loop = GAN.__new__(GAN)  # only the loop's penalty step: no nets, optimizers or trainer
    loop.penalties, loop.penalty_precision, loop.penalty_batch = {name: (get_penalty(name), 1.0)}, "fp32", None
    grads = []
    for critic in (eager, compiled):
        loop.critic_compiled = critic is compiled
        torch.manual_seed(1)  # the same interpolation and perturbation noise for both
        d_real = critic(real)
        loss = d_real.mean() - critic(fake).mean()
        values = loop.penalty_values(lambda x, y, net=critic: net(x), real, fake, None, d_real)
        (loss + values[name]).backward()
        grads.append(torch.cat([p.grad.flatten() for p in critic.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(("args", "critic_compiled", "fused"), [
    (["experiment=ring8_gan"], True, True),  # the preset: compiled nets, fused Adam
    (["experiment=ring8_wgan_gp", "model.compile=true"], True, False),  # its penalty runs eagerly
    (["experiment=ring8_sngan", "model.compile=true"], False, False)])
def test_2d_presets_train_compiled_and_a_critic_that_cannot_be_stays_eager(tmp_path, caplog, args, critic_compiled,
                                                                          fused):
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
    chosen = [bool(group.get("fused")) for state in checkpoint["optimizer_states"] for group in state["param_groups"]]
    assert chosen == [fused] * 2  # the GAN presets chose fused Adam; the others keep their own
