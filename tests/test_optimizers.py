"""Optimizers are built with PyTorch's multi-tensor (foreach) path unless the config chooses."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import compose_cfg

from ganforge.models.optimizers import multi_tensor_default
from ganforge.train import build


class NoForeach(torch.optim.SGD):
    def __init__(self, params, lr: float = 0.1) -> None:
        super().__init__(params, lr=lr)


@pytest.mark.parametrize("make, expected", [
    (functools.partial(torch.optim.Adam, lr=1e-3), {"foreach": True}),
    (functools.partial(torch.optim.RMSprop, lr=1e-3), {"foreach": True}),
    (functools.partial(torch.optim.Adam, lr=1e-3, foreach=False), {}),
    (functools.partial(torch.optim.Adam, lr=1e-3, fused=True), {}),
    (functools.partial(torch.optim.Adam, lr=1e-3, differentiable=True), {}),
    (functools.partial(NoForeach, lr=0.1), {}),
])
def test_foreach_only_where_taken_and_not_chosen(make, expected) -> None:
    assert multi_tensor_default(make) == expected


@pytest.mark.parametrize("optimizer", [
    functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.0, 0.9)),
    functools.partial(torch.optim.RMSprop, lr=5e-5),
])
def test_foreach_takes_the_same_steps_as_the_default(optimizer) -> None:
    """The claim behind the default: the same weights, bit for bit, after a few steps on the CPU."""
    def train(foreach: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.LeakyReLU(0.2), torch.nn.Linear(16, 1))
        opt = optimizer(net.parameters(), foreach=foreach)
        for _ in range(5):
            opt.zero_grad()
            net(torch.randn(8, 2)).square().mean().backward()
            opt.step()
        return [p.detach().clone() for p in net.parameters()]

    for a, b in zip(train(True), train(False)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("overrides, foreach", [
    (["model=gan"], True),
    (["model=gan", "model.optimizer_d._target_=torch.optim.RMSprop", "~model.optimizer_d.betas"], True),
    (["model=gan", "+model.optimizer_d.foreach=false"], False),  # a choice in the config stands
])
def test_models_build_their_optimizers_foreach_unless_configured(tmp_path, overrides, foreach) -> None:
    cfg = compose_cfg(tmp_path, [*overrides, "model.generator.hidden=[4]", "model.discriminator.hidden=[4]"])
    model = build(cfg.model, "model", sample_shape=[2], num_classes=0)
    opt_g, opt_d = model.build_optimizers()
    assert opt_g.defaults["foreach"] is True
    assert opt_d.defaults["foreach"] is foreach
