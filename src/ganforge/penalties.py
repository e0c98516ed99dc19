"""Discriminator regularisers as pure functions, looked up by name; each config line
``model.penalties.<name>: <weight>`` adds ``weight * penalty(...)`` to the discriminator loss.

Every penalty has the signature ``(discriminator, real, fake, labels, real_out) -> scalar``;
``discriminator`` is any callable ``(x, labels) -> scores``. Imports only torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ganforge.errors import SettingError

Critic = Callable[[Tensor, Tensor | None], Tensor]


def _input_gradients(critic: Critic, x: Tensor, labels: Tensor | None) -> Tensor:
    """d sum(critic(x)) / dx per sample, flattened, with the graph kept (the penalty trains the
    critic). The critic pass and the double backward run in the caller's precision: the loop
    turns autocast off around penalties unless ``model.penalty_precision=autocast``; the
    gradient itself is always taken with respect to an fp32 input."""
    x = x.detach().float().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x, labels).float().sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] on x_hat = a*real + (1-a)*fake,
    one a ~ U[0, 1] per sample. Differentiable, so it trains the critic."""
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=torch.float32)
    x_hat = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
    grad = _input_gradients(critic, x_hat, labels)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def dragan_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """DRAGAN (Kodali et al. 2017) as google/compare_gan computes it: E[(||grad D(x_noisy)||_2 - 1)^2]
    on x_noisy = clip(real + std(real) * (u - 1/2)), u ~ U[0, 1] per pixel, std over the whole batch,
    clipped to the data range [-1, 1]; the norm is sqrt(1e-4 + sum of squares), as there."""
    x = real.detach().float()
    noisy = (x + x.std(unbiased=False) * (torch.rand_like(x) - 0.5)).clamp(-1, 1)
    grad = _input_gradients(critic, noisy, labels)
    slopes = torch.sqrt(1e-4 + grad.pow(2).sum(dim=1))
    return ((slopes - 1) ** 2).mean()


def r1_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): 1/2 E[||grad D(x)||^2] on real data; the config weight is gamma."""
    grad = _input_gradients(critic, real, labels)
    return 0.5 * grad.pow(2).sum(dim=1).mean()


def drift_penalty(critic: Critic, real: Tensor, fake: Tensor, labels: Tensor | None, real_out: Tensor) -> Tensor:
    """Epsilon-drift (Karras et al. 2018): E[D(x)^2] keeps critic scores near zero."""
    return real_out.float().pow(2).mean()


PENALTIES: dict[str, Callable[..., Tensor]] = {
    "gradient_penalty": gradient_penalty,
    "dragan": dragan_penalty,
    "r1": r1_penalty,
    "drift": drift_penalty,
}


def get_penalty(name: str) -> Callable[..., Tensor]:
    try:
        return PENALTIES[name]
    except KeyError:
        raise SettingError(f"unknown penalty {name!r}; choose from: {', '.join(sorted(PENALTIES))}") from None
