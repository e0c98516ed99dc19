"""The pieces that make the variants: penalties, clipping, spectral norm, EMA, DiffAugment,
loss arguments, conditional grids and the 2-D mode metrics."""

import math

import pytest
import torch
from conftest import compose_cfg

from ganforge.augment import DiffAugment, cutout, translation
from ganforge.errors import GanforgeError
from ganforge.losses import get_loss
from ganforge.metrics.modes import mode_metrics
from ganforge.nets.mlp import MLPDiscriminator
from ganforge.nets.resnet import ResNetDiscriminator, ResNetGenerator
from ganforge.penalties import get_penalty, gradient_penalty, r1_penalty
from ganforge.train import build


def test_gradient_penalty_matches_its_definition_and_is_differentiable():
    # A linear critic D(x) = <w, x> has gradient w everywhere, so GP = (||w|| - 1)^2 exactly.
    w = torch.tensor([3.0, 4.0], requires_grad=True)

    def critic(x, y):
        return x @ w

    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    gp = gradient_penalty(critic, real, fake, None, critic(real, None))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * 4.0 * torch.tensor([3.0, 4.0]) / 5.0)


def test_gradient_penalty_uses_one_alpha_per_sample_on_the_segment():
    seen = {}

    def critic(x, y):
        seen["x"] = x.detach()
        return x.sum(dim=(1, 2, 3))

    real, fake = torch.zeros(8, 1, 2, 2), torch.ones(8, 1, 2, 2)
    gradient_penalty(critic, real, fake, None, torch.zeros(8))
    x = seen["x"]
    per_sample = x.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))  # same alpha across pixels
    assert per_sample[:, 0].unique().numel() == 8 and ((x >= 0) & (x <= 1)).all()


def test_r1_penalty_matches_its_definition():
    def critic(x, y):  # gradient of sum(x^2)/2 is x
        return 0.5 * x.pow(2).sum(dim=1)

    real = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    assert r1_penalty(critic, real, real, None, critic(real, None)).item() == pytest.approx(0.5 * (5 + 9) / 2)
    with pytest.raises(GanforgeError, match="unknown penalty 'gp'.*gradient_penalty"):
        get_penalty("gp")


def test_least_squares_targets_are_routed_and_unknown_arguments_refused():
    loss = get_loss("least_squares", a=-1.0, b=1.0, c=0.0)
    real, fake = torch.tensor([1.0]), torch.tensor([-1.0])
    assert loss.discriminator(real, fake).item() == 0.0 and loss.generator(torch.tensor([0.0])).item() == 0.0
    with pytest.raises(GanforgeError, match=r"takes no argument\(s\) \['margin'\]"):
        get_loss("hinge", margin=2.0)




def test_weight_clipping_keeps_every_critic_weight_within_c(tmp_path, data_root):
    from conftest import TINY, data_overrides

    from ganforge.models.gan import GAN

    cfg = compose_cfg(tmp_path, ["model=wgan", "model.generator.base_width=8", "model.discriminator.base_width=8",
                                 *data_overrides("mnist", data_root), *TINY, "g_iters=2",
                                 "model.critic_warmup=null"])
    captured = []
    original = GAN.training_step

    def spy(self, batch, batch_idx):
        original(self, batch, batch_idx)
        captured.append(max(p.abs().max().item() for p in self.discriminator.parameters()))

    from ganforge.train import run

    GAN.training_step = spy
    try:
        run(cfg)
    finally:
        GAN.training_step = original
    assert len(captured) == 10  # 5 critic steps per generator step
    assert max(captured) <= 0.01 + 1e-9


@pytest.mark.parametrize("kind", ["mlp", "resnet"])
def test_spectral_norm_makes_each_critic_layer_about_1(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        d, x = MLPDiscriminator((2,), hidden=[64, 64], spectral_norm=True), torch.randn(32, 2)
    else:
        d, x = ResNetDiscriminator((3, 32, 32), width=16), torch.randn(4, 3, 32, 32)
    for _ in range(30):  # each forward in train mode runs one power iteration
        d(x)
    layers = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(layers) >= 3
    with torch.no_grad():
        for layer in layers:
            w = layer.weight.flatten(1)
            assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_resnet_shapes_32_and_64():
    for size in (32, 64):
        g = ResNetGenerator(8, (3, size, size), width=16)
        d = ResNetDiscriminator((3, size, size), width=16)
        x = g(torch.randn(2, 8))
        assert x.shape == (2, 3, size, size) and d(x).shape == (2,)
    with pytest.raises(GanforgeError, match="supports square images of 32, 64 px"):
        ResNetGenerator(8, (3, 128, 128))


def test_ema_follows_its_formula(tmp_path):
    cfg = compose_cfg(tmp_path, ["model=gan", "model.ema_decay=0.9", "model.generator.hidden=[4]"])
    model = build(cfg.model, "model", sample_shape=[2], num_classes=0)
    param, ema_param = model.generator.head.bias, model.ema.module.head.bias
    with torch.no_grad():
        param.fill_(1.0)
    model.update_ema()  # first update copies
    assert torch.allclose(ema_param, torch.ones_like(ema_param))
    with torch.no_grad():
        param.fill_(3.0)
    model.update_ema()
    # after t = 1 update the decay is min(0.9, (1 + t) / (10 + t)) = 2/11: the random start fades fast
    warm = 2 / 11
    assert torch.allclose(ema_param, torch.full_like(ema_param, warm * 1.0 + (1 - warm) * 3.0))
    for _ in range(200):  # from t = 80 on the decay is the configured 0.9
        model.update_ema()
    before = ema_param.clone()
    with torch.no_grad():
        param.fill_(5.0)
    model.update_ema()
    assert torch.allclose(ema_param, 0.9 * before + 0.1 * 5.0)
    assert not any(p.requires_grad for p in model.ema.parameters())


def test_conditional_grid_has_one_row_per_class(tmp_path):
    cfg = compose_cfg(tmp_path, ["model=cgan", "model.generator.base_width=8", "model.discriminator.base_width=8"])
    model = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=10)
    assert model.grid_columns == 8 and len(model.fixed_labels) == 80
    assert model.fixed_labels.view(10, 8).tolist() == [[c] * 8 for c in range(10)]
    images = model.generate(torch.randn(3, 100).repeat(2, 1), torch.tensor([1, 1, 1, 5, 5, 5]))
    assert not torch.allclose(images[:3], images[3:])  # generation by label from the module


def test_diffaugment_is_differentiable_and_keeps_shapes():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    out = DiffAugment(["color", "translation", "cutout"])(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    ones = torch.ones(64, 1, 16, 16)
    holes = (cutout(ones) == 0).flatten(1).sum(1)
    assert (holes > 0).all() and (holes <= 8 * 8).all()  # a square of half the side, clipped at borders
    assert (holes == 8 * 8).any()
    moved = translation(ones)
    assert (moved == 0).any() and set(moved.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(GanforgeError, match="unknown augmentation"):
        DiffAugment(["flip"])


def test_mode_metrics_on_constructed_point_sets():
    from ganforge.data.toy2d import mixture_means

    means, std = mixture_means("ring8")
    every_mode = means.repeat_interleave(100, 0) + 0.5 * std * torch.randn(800, 2)
    m = mode_metrics(every_mode, means, std)
    assert m["modes"] == 8 and m["hq_ratio"] == 1.0 and m["reverse_kl"] == pytest.approx(0.0, abs=1e-9)

    one_mode = means[3].expand(500, 2).clone()
    m = mode_metrics(one_mode, means, std)
    assert m["modes"] == 1 and m["hq_ratio"] == 1.0 and m["reverse_kl"] == pytest.approx(math.log(8))

    far = torch.full((100, 2), 10.0)
    m = mode_metrics(far, means, std)
    assert m["modes"] == 0 and m["hq_ratio"] == 0.0

    half_good = torch.cat([means[:4].repeat(25, 1), means[:4].repeat(25, 1) + 4 * std])
    m = mode_metrics(half_good, means, std)
    assert m["modes"] == 4 and m["hq_ratio"] == pytest.approx(0.5)
    assert m["reverse_kl"] == pytest.approx(math.log(2))  # uniform over 4 of 8 modes


def test_mode_metrics_are_logged_on_2d_data(tmp_path):
    from conftest import TINY, TINY_NETS

    from ganforge.train import run

    cfg = compose_cfg(tmp_path, ["model=gan", *TINY_NETS["gan"], "data=grid25", "data.batch_size=16",
                                 "data.num_points=512", *TINY, "logger=csv", "objective=val/modes"])
    value = run(cfg)
    assert 0 <= value <= 25
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")))
    assert any(r.get("val/hq_ratio") for r in rows) and any(r.get("val/reverse_kl") for r in rows)


def test_linear_lr_decay_schedule():
    from ganforge.schedules import LinearDecay

    whole = LinearDecay(10, 0.0)
    assert [whole(g) for g in (0, 5, 10, 12)] == [1.0, 0.5, 0.0, 0.0]
    late = LinearDecay(10, 0.6)
    assert [late(g) for g in (0, 6, 8, 10)] == [1.0, 1.0, 0.5, 0.0]


def test_lr_decays_to_zero_by_generator_iteration_and_resumes_exactly(tmp_path, data_root):
    from pathlib import Path

    from conftest import TINY, data_overrides

    from ganforge.train import run

    def train(where, *extra):
        cfg = compose_cfg(tmp_path / where, ["model=gan", "model.generator.hidden=[16]",
                                             "model.discriminator.hidden=[16]", "model.n_critic=2",
                                             *data_overrides("ring8", data_root), *TINY, "checkpoint_every=100",
                                             "model.lr_decay_start=0.5", *extra])
        run(cfg)
        return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)

    straight = train("straight", "g_iters=4", "callbacks.model_checkpoint.every_n_g_iters=2")
    # 4 generator iterations, decay after iteration 2: factors 1, 1, 1, 0.5, 0 -> the last LR is 0 for both nets
    assert [s["param_groups"][0]["lr"] for s in straight["optimizer_states"]] == [0.0, 0.0]
    assert straight["lr_schedulers"][0]["last_epoch"] == 4
    mid_path = tmp_path / "straight" / "run" / "checkpoints" / "g0000002.ckpt"
    mid = torch.load(mid_path, weights_only=True)
    assert mid["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(2.0e-4)
    resumed = train("resumed", "g_iters=4", f"ckpt_path={mid_path}")
    for key in straight["state_dict"]:
        assert torch.equal(straight["state_dict"][key], resumed["state_dict"][key]), key


def test_lr_decay_without_a_run_length_is_refused(tmp_path, data_root):
    from conftest import TINY, data_overrides

    from ganforge.errors import GanforgeError
    from ganforge.train import run

    cfg = compose_cfg(tmp_path, ["model=gan", "model.generator.hidden=[16]", "model.discriminator.hidden=[16]",
                                 *data_overrides("ring8", data_root), *TINY, "g_iters=null", "trainer.max_epochs=1",
                                 "model.lr_decay_start=0"])
    with pytest.raises(GanforgeError, match="lr_decay_start needs a run length"):
        run(cfg)
    with pytest.raises(GanforgeError, match=r"lr_decay_start must be a number >= 0 and < 1 or null, got 1.5"):
        run(compose_cfg(tmp_path, ["model=gan", *data_overrides("ring8", data_root), *TINY,
                                   "model.lr_decay_start=1.5"]))


def test_pacgan_packing_feeds_the_discriminator_groups_of_samples(tmp_path):
    """model.pack=m: D is built for m stacked samples and judges n/m groups per batch."""
    from ganforge.errors import GanforgeError
    from ganforge.train import run

    cfg = compose_cfg(tmp_path, ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=2",
                                 "model.pack=4", "data.batch_size=16", "model.discriminator.hidden=[8]",
                                 "model.generator.hidden=[8]"])
    model = build(cfg.model, "model", sample_shape=[2], num_classes=0)
    assert model.discriminator.body[0].in_features == 8  # 4 samples x 2 coordinates
    seen: list[tuple[int, ...]] = []
    model.discriminator.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    real = torch.arange(32.0).view(16, 2)
    packed = model.pack(real)
    assert packed.shape == (4, 8) and torch.equal(packed[1], real[4:8].flatten())
    model.discriminate(real, None)
    assert seen == [(4, 8)]
    run(cfg)  # trains (gradient penalty and all) with packed batches

    with pytest.raises(GanforgeError, match="multiple of model.pack"):
        run(compose_cfg(tmp_path / "b", ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=1",
                                         "model.pack=3", "data.batch_size=16"]))
    with pytest.raises(GanforgeError, match="1 for conditional models"):
        build(compose_cfg(tmp_path, ["model=cgan", "model.pack=2"]).model, "model", sample_shape=[1, 32, 32],
              num_classes=10)


@pytest.mark.parametrize(("n_critic", "reuse", "per_iteration"), [(1, False, 2), (1, True, 1), (2, False, 3),
                                                                  (2, True, 2)])
def test_reuse_fake_generates_the_generator_steps_batch_once(tmp_path, monkeypatch, n_critic, reuse, per_iteration):
    """model.reuse_fake: the generator step trains on the last critic step's batch (generated with
    its graph) instead of generating another; sampling (eval mode) is not counted."""
    from ganforge.nets.mlp import MLPGenerator
    from ganforge.train import run

    calls = []
    original = MLPGenerator.forward

    def counting(self, *args, **kwargs):
        if self.training:
            calls.append(torch.is_grad_enabled())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLPGenerator, "forward", counting)
    run(compose_cfg(tmp_path, ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=3",
                               "data.batch_size=16", "model.discriminator.hidden=[8]", "model.generator.hidden=[8]",
                               f"model.n_critic={n_critic}", f"model.reuse_fake={reuse}", "callbacks=none"]))
    assert len(calls) == 3 * per_iteration
    assert sum(calls) == 3  # one generation with gradients per generator iteration, either way


@pytest.mark.parametrize("simultaneous", [False, True])
def test_simultaneous_updates_take_the_generators_gradient_against_the_critic_before_its_step(
        tmp_path, monkeypatch, simultaneous):
    """model.simultaneous (PacGAN's and ALI's code): both nets step from one graph, so the generator's
    loss sees the critic as the critic's own loss of that batch saw it; alternating updates (the
    default) give the generator the critic after its step."""
    from ganforge.train import run

    calls: list[tuple[bool, torch.Tensor]] = []  # (is the generator's loss, critic weights then)
    original = MLPDiscriminator.forward

    def recording(self, *args, **kwargs):
        first = next(self.parameters())
        calls.append((not first.requires_grad, first.detach().clone()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLPDiscriminator, "forward", recording)
    run(compose_cfg(tmp_path, ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=3",
                               "data.batch_size=16", "model.discriminator.hidden=[8]", "model.generator.hidden=[8]",
                               f"model.simultaneous={simultaneous}", "callbacks=none"]))
    assert len(calls) == 9  # per iteration: the critic on reals and fakes, the generator's loss
    for i in range(3):
        iteration = calls[3 * i:3 * i + 3]
        generator_call = [c for c in iteration if c[0]]
        critic_calls = [c for c in iteration if not c[0]]
        assert len(generator_call) == 1 and len(critic_calls) == 2
        assert (iteration[0][0] is True) == simultaneous  # the generator's loss first when simultaneous
        same_critic = torch.equal(generator_call[0][1], critic_calls[0][1])
        assert same_critic == simultaneous
