"""Discriminator regularisers as pure functions, looked up by name; each config line
``model.penalties.<name>: <weight>`` adds ``weight * penalty(...)`` to the discriminator loss.

Every penalty has the signature ``(discriminator, real, fake, labels, real_out) -> scalar``;
``discriminator`` is any callable ``(x, labels) -> scores``. Imports only torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Critic = Callable[[Tensor, Tensor | None], Tensor]


def _input_gradients(outputs: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] on x_hat = a*real + (1-a)*fake,
    one a ~ U[0, 1] per sample. Differentiable, so it trains the critic."""
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    grad = _input_gradients(critic(x_hat, labels).float(), x_hat)
    return ((grad.float().norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): 1/2 E[||grad D(x)||^2] on real data; the config weight is gamma."""
    x = real.detach().requires_grad_(True)
    grad = _input_gradients(critic(x, labels).float(), x)
    return 0.5 * grad.float().pow(2).sum(dim=1).mean()


def drift_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """Epsilon-drift (Karras et al. 2018): E[D(x)^2] keeps critic scores near zero."""
    return real_out.float().pow(2).mean()


PENALTIES: dict[str, Callable[..., Tensor]] = {
    "gradient_penalty": gradient_penalty,
    "r1": r1_penalty,
    "drift": drift_penalty,
}


def get_penalty(name: str) -> Callable[..., Tensor]:
    try:
        return PENALTIES[name]
    except KeyError:
        raise ValueError(f"unknown penalty {name!r}; choose from: {', '.join(sorted(PENALTIES))}") from None
