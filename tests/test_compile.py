"""Compiled nets (``model.compile=true``, as the 2-D GAN presets set it): what cannot be compiled stays
eager, a missing C++ compiler is refused before any work, and the presets train compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from torch import nn

from ganforge.models.gan import critic_compile_obstacle

QUIET = ["callbacks.progress_bar=null", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def train_cli(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GANFORGE_ROOT": str(tmp_path),
                   "WANDB_MODE": "disabled", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), "trainer=cpu", *QUIET, *args],
                          capture_output=True, text=True, timeout=600, env=environment, cwd=tmp_path)


def test_a_critic_under_double_backward_penalties_or_spectral_norm_is_not_compiled():
    plain = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    assert critic_compile_obstacle(plain, {}) is None
    assert critic_compile_obstacle(plain, {"drift": None}) is None  # E[D(x)^2]: no second backward
    for name in ("gradient_penalty", "dragan", "r1"):
        assert name in critic_compile_obstacle(plain, {name: None, "drift": None})
    normalised = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(2, 8)), nn.Linear(8, 1))
    assert "spectral norm" in critic_compile_obstacle(normalised, {})


def test_compiling_without_a_cpp_compiler_is_refused_before_any_work(tmp_path):
    out = train_cli(tmp_path, "experiment=ring8_gan", "g_iters=3", "logger=none",
                    env={"CXX": str(tmp_path / "no-such-compiler")})
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "model.compile=true" in errors[0] and "needs a C++ compiler" in errors[0]
    assert "model.compile=false" in errors[0] and "Traceback" not in out.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.slow
@pytest.mark.parametrize(("args", "critic_compiled"), [
    (["experiment=ring8_gan"], True),  # the preset: compiled nets, fused Adam
    (["experiment=ring8_wgan_gp", "model.compile=true"], False),
    (["experiment=ring8_sngan", "model.compile=true"], False)])
def test_2d_presets_train_compiled_and_a_critic_that_cannot_be_stays_eager(tmp_path, args, critic_compiled):
    out = train_cli(tmp_path, *args, "g_iters=20", "logger=csv", "callbacks.mode_coverage=null", "objective=null",
                    "callbacks.samples=null", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "finished"
    log = (tmp_path / "run" / "train.log").read_text()
    assert ("the discriminator stays uncompiled" in log) is not critic_compiled
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["counters"]["g_iters"] == 20
    fused = [bool(group.get("fused")) for state in checkpoint["optimizer_states"] for group in state["param_groups"]]
    assert fused == [critic_compiled] * 2  # the GAN presets chose fused Adam; the others keep their own
