"""Adversarial losses as pure functions of discriminator outputs, looked up by name.

Each entry pairs a discriminator loss ``d(real_out, fake_out)`` with a generator loss
``g(fake_out)``. Outputs are raw scores (logits for the probabilistic losses). Adding a loss
is one pair of functions plus one line in ``LOSSES``; configs select it by name.
Imports only torch, so models depend on losses and never the other way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import SettingError


def d_logistic(real: Tensor, fake: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))), the discriminator loss of Goodfellow et al. 2014."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_minimax(fake: Tensor) -> Tensor:
    """log(1 - D(G(z))): the original minimax generator loss (saturates early in training)."""
    return -F.softplus(fake).mean()


def g_non_saturating(fake: Tensor) -> Tensor:
    """-log D(G(z)): the non-saturating generator loss, the usual default."""
    return F.softplus(-fake).mean()


def d_least_squares(real: Tensor, fake: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """LSGAN (Mao et al. 2017): 1/2 E[(D(x)-b)^2] + 1/2 E[(D(G(z))-a)^2]."""
    return 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - a) ** 2).mean()


def g_least_squares(fake: Tensor, c: float = 1.0) -> Tensor:
    """LSGAN generator: 1/2 E[(D(G(z))-c)^2]."""
    return 0.5 * ((fake - c) ** 2).mean()


def d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge loss (Lim & Ye 2017; SNGAN): E[relu(1-D(x))] + E[relu(1+D(G(z)))]."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def d_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss of WGAN (Arjovsky et al. 2017): E[D(G(z))] - E[D(x)]."""
    return fake.mean() - real.mean()


def g_wasserstein(fake: Tensor) -> Tensor:
    """Generator loss of WGAN and of the hinge GAN: -E[D(G(z))]."""
    return -fake.mean()


@dataclass(frozen=True)
class AdversarialLoss:
    """A discriminator loss and the generator loss trained against it."""

    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]


LOSSES: dict[str, AdversarialLoss] = {
    "non_saturating": AdversarialLoss(d_logistic, g_non_saturating),
    "minimax": AdversarialLoss(d_logistic, g_minimax),
    "least_squares": AdversarialLoss(d_least_squares, g_least_squares),
    "hinge": AdversarialLoss(d_hinge, g_wasserstein),
    "wasserstein": AdversarialLoss(d_wasserstein, g_wasserstein),
}


def get_loss(name: str, **kwargs: float) -> AdversarialLoss:
    """The loss registered under ``name``, with ``kwargs`` (e.g. LSGAN's a, b, c targets) routed
    to whichever of its two functions takes them; unknown names or arguments are refused."""
    try:
        loss = LOSSES[name]
    except KeyError:
        raise SettingError(f"unknown adversarial loss {name!r}; choose one of: {', '.join(sorted(LOSSES))}") from None
    if not kwargs:
        return loss
    d_args = {k: v for k, v in kwargs.items() if k in inspect.signature(loss.discriminator).parameters}
    g_args = {k: v for k, v in kwargs.items() if k in inspect.signature(loss.generator).parameters}
    unused = set(kwargs) - set(d_args) - set(g_args)
    if unused:
        raise SettingError(f"loss {name!r} takes no argument(s) {sorted(unused)}")
    return AdversarialLoss(functools.partial(loss.discriminator, **d_args), functools.partial(loss.generator, **g_args))

