import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.nets.mlp import MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    g = DCGANGenerator(z_dim=16, sample_shape=(channels, size, size), base_width=8)
    d = DCGANDiscriminator(sample_shape=(channels, size, size), base_width=8)
    x = g(torch.randn(2, 16))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1.0  # tanh output matches data in [-1, 1]
    assert d(x).shape == (2,)


def test_dcgan_critic_without_batchnorm():
    d = DCGANDiscriminator(sample_shape=(1, 32, 32), base_width=8, norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    # No placeholder layers: a checkpoint of a norm="none" critic keeps its parameter names.
    assert [k for k in d.state_dict() if k.startswith("net.")] == [
        "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias"]


def _critic(kind: str, norm: str) -> torch.nn.Module:
    from ganforge.nets.infogan import InfoGANDiscriminator

    if kind == "dcgan":
        return DCGANDiscriminator(sample_shape=(1, 32, 32), base_width=8, norm=norm), (1, 32, 32)
    return InfoGANDiscriminator((1, 28, 28), base_width=8, norm=norm), (1, 28, 28)


@pytest.mark.parametrize("kind", ["dcgan", "infogan"])
def test_layer_norm_critic_scores_each_sample_alone_where_batchnorm_mixes_them(kind):
    torch.manual_seed(0)
    scores = {}
    for norm in ("layer", "batch"):
        critic, shape = _critic(kind, norm)
        critic.train()
        batch = torch.randn(6, *shape)
        other = torch.cat([batch[:1], 3 * torch.randn(5, *shape) + 1])  # the same first sample, new company
        scores[norm] = (critic(batch)[0], critic(other)[0])
    assert torch.allclose(*scores["layer"], rtol=1e-4, atol=1e-8)  # a per-sample penalty stays per sample
    assert not torch.allclose(*scores["batch"], rtol=1e-2, atol=0)
    layer_critic, _ = _critic(kind, "layer")
    assert any(isinstance(m, (torch.nn.LayerNorm, torch.nn.GroupNorm)) for m in layer_critic.modules())
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in layer_critic.modules())


@pytest.mark.parametrize("kind", ["dcgan", "infogan"])
def test_critic_norm_names_the_choices(kind):
    with pytest.raises(GanforgeError, match="norm must be one of batch, layer, none, got 'instance'"):
        _critic(kind, "instance")


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 48, 48), (3, 32, 64)])
def test_dcgan_unsupported_size_names_supported_ones(shape):
    with pytest.raises(GanforgeError, match=r"supports square images of 32, 64, 128 px.*set data.resolution"):
        DCGANGenerator(z_dim=8, sample_shape=shape)
    with pytest.raises(GanforgeError, match=r"supports square images of 32, 64, 128 px"):
        DCGANDiscriminator(sample_shape=shape)


def test_dcgan_refuses_points():
    with pytest.raises(GanforgeError, match="needs images.*model=gan"):
        DCGANGenerator(z_dim=8, sample_shape=(2,))


def test_mlp_images_and_points():
    g = MLPGenerator(z_dim=8, sample_shape=(1, 32, 32), hidden=[16])
    assert g(torch.randn(3, 8)).shape == (3, 1, 32, 32)
    assert isinstance(g.out, torch.nn.Tanh)
    g2 = MLPGenerator(z_dim=2, sample_shape=(2,), hidden=[16])
    assert g2(torch.randn(3, 2)).shape == (3, 2)
    assert isinstance(g2.out, torch.nn.Identity)  # points are not bounded to [-1, 1]
    d = MLPDiscriminator(sample_shape=(2,), hidden=[16])
    assert d(torch.randn(3, 2)).shape == (3,)


def test_mlp_pacgan_options_batch_norm_and_maxout():
    g = MLPGenerator(z_dim=2, sample_shape=(2,), hidden=[16, 16], batch_norm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in g.modules()) == 2
    assert g(torch.randn(5, 2)).shape == (5, 2)
    d = MLPDiscriminator(sample_shape=(2,), hidden=[8, 4], maxout=3)
    x = torch.randn(5, 2)
    assert d(x).shape == (5,)
    first = d.body[0]  # each unit is the largest of its 3 linear pieces
    pieces = first.linear(x).view(5, 8, 3)
    assert torch.equal(first(x), pieces.max(dim=2).values)
    with pytest.raises(GanforgeError, match="maxout must be at least 1"):
        MLPDiscriminator(sample_shape=(2,), maxout=0)


def test_mlp_init_std_draws_every_weight_from_that_normal_with_zero_biases():
    torch.manual_seed(0)
    g = MLPGenerator(z_dim=2, sample_shape=(2,), hidden=[400, 400], batch_norm=True, init_std=0.02)
    d = MLPDiscriminator(sample_shape=(8,), hidden=[200, 200], maxout=5, init_std=0.02)
    linears = [m for net in (g, d) for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3 + 3
    for layer in linears:
        if layer.weight.numel() >= 1000:  # enough draws for the spread to be 0.02 within 10 %
            assert abs(layer.weight.std().item() - 0.02) < 0.002
        assert torch.count_nonzero(layer.bias) == 0
    bn = next(m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))  # BatchNorm left at (1, 0)
    default = MLPGenerator(z_dim=2, sample_shape=(2,), hidden=[400, 400])  # PyTorch's init: first layer far wider
    assert default.body[0].weight.std().item() > 0.2
    for bad in (0, -0.1, "wide", True):
        with pytest.raises(GanforgeError, match="init_std must be a positive number"):
            MLPDiscriminator(sample_shape=(2,), init_std=bad)


@pytest.mark.parametrize("kind", ["mlp", "dcgan"])
def test_conditional_nets_use_the_label(kind):
    torch.manual_seed(0)
    shape = (1, 32, 32)
    if kind == "mlp":
        g, d = MLPGenerator(8, shape, num_classes=10, hidden=[16]), MLPDiscriminator(shape, 10, hidden=[16])
    else:
        g, d = DCGANGenerator(8, shape, num_classes=10, base_width=8), DCGANDiscriminator(shape, 10, base_width=8)
    g.eval()
    z = torch.randn(2, 8).repeat(2, 1)
    y = torch.tensor([0, 0, 7, 7])
    x = g(z, y)
    assert not torch.allclose(x[:2], x[2:])
    assert not torch.allclose(d(x[:2], y[:2]), d(x[:2], y[2:]))
    with pytest.raises(GanforgeError, match="pass class labels"):
        g(z)


def test_infogan_nets_of_lucic_et_al_at_28_px():
    from ganforge.nets.infogan import InfoGANDiscriminator, InfoGANGenerator

    g, d = InfoGANGenerator(64, (1, 28, 28)), InfoGANDiscriminator((1, 28, 28))
    x = g(torch.randn(5, 64))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert d(x).shape == (5,)
    # The paper's widths at base_width 64: FC 1024, FC 128x7x7, 64 maps; D 64, 128 maps, FC 1024.
    assert [m.out_features for m in g.fc if isinstance(m, torch.nn.Linear)] == [1024, 128 * 7 * 7]
    assert [m.out_channels for m in d.conv if isinstance(m, torch.nn.Conv2d)] == [64, 128]
    critic = InfoGANDiscriminator((1, 28, 28), norm="none", base_width=8)
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in critic.modules())
    with pytest.raises(GanforgeError, match="supports square images of 28 px"):
        InfoGANGenerator(64, (1, 32, 32))
    conditional = InfoGANGenerator(8, (1, 28, 28), num_classes=10, base_width=8)
    assert conditional(torch.randn(4, 8), torch.arange(4)).shape == (4, 1, 28, 28)
