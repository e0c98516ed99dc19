import math

import pytest
import torch

from ganforge import losses
from ganforge.errors import GanforgeError

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_logistic_discriminator_matches_hand_computation():
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    want = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    assert losses.d_logistic(REAL, FAKE).item() == pytest.approx(want, rel=1e-6)


def test_generator_losses_match_hand_computation():
    assert losses.g_non_saturating(FAKE).item() == pytest.approx((softplus(-0.5) + softplus(3.0)) / 2, rel=1e-6)
    assert losses.g_minimax(FAKE).item() == pytest.approx(-(softplus(0.5) + softplus(-3.0)) / 2, rel=1e-6)


def test_least_squares_with_paper_targets():
    # a=0 (fake), b=1 (real), c=1 (generator's target)
    want_d = 0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * (0.5**2 + 3.0**2) / 2
    assert losses.d_least_squares(REAL, FAKE).item() == pytest.approx(want_d)
    assert losses.g_least_squares(FAKE).item() == pytest.approx(0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2)
    # a=-1, b=1, c=0 variant of the paper
    want = 0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * ((0.5 + 1) ** 2 + (-3 + 1) ** 2) / 2
    assert losses.d_least_squares(REAL, FAKE, a=-1.0, b=1.0).item() == pytest.approx(want)


def test_hinge_and_wasserstein():
    # relu(1-2)=0, relu(1+1)=2 -> 1; relu(1+0.5)=1.5, relu(1-3)=0 -> 0.75
    assert losses.d_hinge(REAL, FAKE).item() == pytest.approx(1.75)
    assert losses.d_wasserstein(REAL, FAKE).item() == pytest.approx((0.5 - 3.0) / 2 - (2.0 - 1.0) / 2)
    assert losses.g_wasserstein(FAKE).item() == pytest.approx(1.25)


def test_every_registered_loss_is_finite_and_differentiable():
    for name, pair in losses.LOSSES.items():
        real = torch.randn(8, requires_grad=True)
        fake = torch.randn(8, requires_grad=True)
        (pair.discriminator(real, fake) + pair.generator(fake)).backward()
        assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all(), name


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(GanforgeError, match="unknown adversarial loss 'hinj'.*hinge.*non_saturating"):
        losses.get_loss("hinj")


def test_dragan_penalty_on_a_linear_critic_and_its_perturbed_reals():
    from ganforge.penalties import PENALTIES

    w = torch.tensor([0.3, -0.4, 1.2]).view(1, 3, 1, 1)
    seen = []

    def critic(x, labels):
        seen.append(x.detach())
        return (x * w).sum(dim=(1, 2, 3))

    real = torch.rand(16, 3, 4, 4) * 2 - 1
    value = PENALTIES["dragan"](critic, real, torch.zeros_like(real), None, None)
    # The input gradient is w at every pixel: ||grad||^2 = 16 pixels * ||w||^2.
    expected = (torch.sqrt(1e-4 + 16 * w.pow(2).sum()) - 1) ** 2
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    (noisy,) = seen
    half_width = real.std(unbiased=False) / 2
    assert noisy.abs().max() <= 1 and (noisy - real).abs().max() <= half_width + 1e-6
    assert not torch.equal(noisy, real)
