"""Each variant as its reference implementation has it: ProGAN's faded reals and Adam
reset per resolution, EMA buffers copied (not averaged), WGAN's critic warm-up, penalties on
clean inputs in fp32, SRGAN's learning-rate drop, and the spectrally normalised cGAN critic."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, TINY_NETS, compose_cfg, data_overrides
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.models.gan import GAN
from ganforge.penalties import gradient_penalty, r1_penalty
from ganforge.schedules import boosted_iterations, critic_steps_at, critic_steps_total
from ganforge.train import build, run


def last_ckpt(cfg) -> dict:
    return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)


def csv_rows(cfg) -> list[dict[str, str]]:
    return list(csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")))


# ---- 1, 2: ProGAN ------------------------------------------------------------------------------
def tiny_progan(tmp_path: Path, data_root: Path, *extra: str):
    """batch 16: 0.016 kimg per step; 4 px until 0.1 kimg, 8 px fades in over 0.1-0.2, stable to 0.3,
    16 px fades in from 0.3 kimg (from the 20th generator iteration)."""
    cfg = compose_cfg(tmp_path, ["model=progan", *data_overrides("mnist", data_root), *TINY, "data.batch_size=16",
                                 "model.z_dim=8", "model.generator.fmap_base=32", "model.generator.fmap_max=8",
                                 "model.discriminator.fmap_base=32", "model.discriminator.fmap_max=8",
                                 "model.fade_kimg=0.1", "model.stable_kimg=0.1", "checkpoint_every=100",
                                 "model.batch_sizes={4: 16, 8: 16, 16: 8, 32: 8}", *extra])
    run(cfg)
    return cfg


def test_progan_fades_the_reals_with_the_nets(tmp_path, data_root):
    cfg = compose_cfg(tmp_path, ["model=progan", *data_overrides("mnist", data_root), "model.z_dim=8",
                                 "model.generator.fmap_base=32", "model.generator.fmap_max=8",
                                 "model.discriminator.fmap_base=32", "model.discriminator.fmap_max=8"])
    model = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=0)
    images = torch.rand(4, 1, 32, 32) * 2 - 1
    sharp = F.adaptive_avg_pool2d(images, 8)
    coarse = F.interpolate(F.avg_pool2d(sharp, 2), scale_factor=2, mode="nearest")  # the 4 px image at 8 px
    batch = (images, torch.zeros(4, dtype=torch.long))
    assert torch.allclose(model.task.at_stage(batch, 1, 0.0)[0], coarse)
    assert torch.allclose(model.task.at_stage(batch, 1, 1.0)[0], sharp)
    assert torch.allclose(model.task.at_stage(batch, 1, 0.3)[0], 0.7 * coarse + 0.3 * sharp, atol=1e-6)
    assert torch.allclose(model.task.at_stage(batch, 0, 0.5)[0], F.adaptive_avg_pool2d(images, 4))  # no fade at 4 px


def test_progan_resets_adam_at_each_new_resolution_and_resumes_exactly(tmp_path, data_root):
    straight = tiny_progan(tmp_path / "straight", data_root, "g_iters=22",
                           "callbacks.model_checkpoint.every_n_g_iters=7")
    ckpt = last_ckpt(straight)
    # The generator's first block trains at every stage: its Adam step count restarted when 16 px
    # began fading in (the 20th iteration starts at 19 x 16 images = 0.304 kimg), so it counts 3.
    first_param_state = ckpt["optimizer_states"][0]["state"][0]
    assert int(first_param_state["step"]) == 22 - 19
    assert ckpt["counters"]["optimizer_stage"] == 2
    # Resumed mid-fade (g 7) and in the stable phase before the next resolution (g 14): same weights and moments.
    for start in ("g0000007.ckpt", "g0000014.ckpt"):
        path = Path(straight.paths.output_dir) / "checkpoints" / start
        resumed = last_ckpt(tiny_progan(tmp_path / f"resumed_{start}", data_root, "g_iters=22", f"ckpt_path={path}"))
        for key in ckpt["state_dict"]:
            assert torch.equal(ckpt["state_dict"][key], resumed["state_dict"][key]), key
        for a, b in zip(ckpt["optimizer_states"], resumed["optimizer_states"]):
            for pa, pb in zip(a["state"].values(), b["state"].values()):
                assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["step"], pb["step"])


# ---- 3: EMA ------------------------------------------------------------------------------------
def test_ema_copies_batchnorm_statistics_and_averages_weights(tmp_path):
    cfg = compose_cfg(tmp_path, ["model=dcgan", *TINY_NETS["dcgan"], "model.ema_decay=0.9"])
    model: GAN = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=0)
    model.update_ema()  # the first update copies
    before = {k: v.clone() for k, v in model.ema.module.named_parameters()}
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
        for b in model.generator.buffers():
            if b.is_floating_point():
                b.copy_(torch.randn_like(b).abs())
            else:
                b.add_(7)
    model.update_ema()
    for (name, ema_b), gen_b in zip(model.ema.module.named_buffers(), model.generator.buffers()):
        assert torch.equal(ema_b, gen_b), name
    decay = min(0.9, 2 / 11)  # warm-up rule after one update
    for name, p in model.generator.named_parameters():
        expected = before[name] + (p - before[name]) * (1 - decay)
        assert torch.allclose(model.ema.module.get_parameter(name), expected, atol=1e-6), name


# ---- 4: WGAN's critic warm-up --------------------------------------------------------------------
def test_critic_warmup_schedule_counts():
    warm = {"n_critic": 100, "first": 25, "every": 500}
    assert [critic_steps_at(g, 5, warm) for g in (0, 24, 25, 499, 500, 501, 1000)] == [100, 100, 5, 5, 100, 5, 100]
    for total in (0, 1, 25, 26, 499, 500, 501, 1001, 5000):
        assert critic_steps_total(total, 5, warm) == sum(critic_steps_at(g, 5, warm) for g in range(total))
        assert boosted_iterations(total, warm) == sum(critic_steps_at(g, 5, warm) == 100 for g in range(total))
    assert critic_steps_total(10, 5, None) == 50


def test_wgan_warmup_steps_the_critic_as_scheduled_shows_it_and_resumes_exactly(tmp_path, data_root):
    def train(where: str, *extra: str):
        cfg = compose_cfg(tmp_path / where, ["model=wgan", *TINY_NETS["wgan"], *data_overrides("mnist", data_root),
                                             *TINY, "logger=csv", "model.n_critic=2", "g_iters=6",
                                             "model.critic_warmup={n_critic: 3, first: 2, every: 4}", *extra])
        run(cfg)
        return cfg

    straight = train("straight", "checkpoint_every=3")
    ckpt = last_ckpt(straight)
    assert ckpt["counters"]["g_iters"] == 6
    assert ckpt["counters"]["d_steps"] == 3 + 3 + 2 + 2 + 3 + 2  # g 0, 1 (first 2) and g 4 (every 4) take 3
    assert ckpt["global_step"] == 15 + 6
    shown = {float(r["progress/g_iters"]): float(r["progress/n_critic"]) for r in csv_rows(straight)
             if r.get("progress/n_critic")}
    assert shown[1.0] == 3.0 and shown[3.0] == 2.0 and shown[4.0] == 3.0
    mid = Path(straight.paths.output_dir) / "checkpoints" / "g0000003.ckpt"
    resumed = last_ckpt(train("resumed", f"ckpt_path={mid}"))
    assert resumed["counters"] == ckpt["counters"]
    for key in ckpt["state_dict"]:
        assert torch.equal(ckpt["state_dict"][key], resumed["state_dict"][key]), key


def test_wgan_preset_has_the_papers_warmup_and_others_do_not(tmp_path):
    assert dict(compose_cfg(tmp_path, ["model=wgan"]).model.critic_warmup) == {"n_critic": 100, "first": 25,
                                                                            "every": 500}
    assert compose_cfg(tmp_path, ["model=wgan_gp"]).model.get("critic_warmup") is None


# ---- 5, 6: penalties -------------------------------------------------------------------------------
class LinearCritic(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1.0, 1.0, features))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return x.flatten(1) @ self.w


def test_penalties_differentiate_with_respect_to_the_clean_input(tmp_path):
    """A known augmentation (x -> 2x) inside the discriminator call: the gradient w.r.t. the clean
    input is 2w, so R1 = 0.5 * ||2w||^2 and GP = (||2w|| - 1)^2, not the values for w."""
    cfg = compose_cfg(tmp_path, ["model=dcgan", *TINY_NETS["dcgan"]])
    model: GAN = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=0)
    model.discriminator = LinearCritic(32 * 32)
    model.augment = lambda x: 2 * x
    model.penalties = {"r1": (r1_penalty, 1.0), "gradient_penalty": (gradient_penalty, 1.0)}
    real, fake = torch.randn(3, 1, 32, 32), torch.randn(3, 1, 32, 32)
    values = model.penalty_values(model.discriminate, real, fake, None, model.discriminate(real, None))
    w = model.discriminator.w.detach()
    assert values["r1"].item() == pytest.approx(0.5 * (2 * w).pow(2).sum().item(), rel=1e-5)
    assert values["gradient_penalty"].item() == pytest.approx(((2 * w).norm() - 1).pow(2).item(), rel=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "autocast"])
def test_penalty_precision_decides_whether_the_penalty_runs_under_the_training_autocast(tmp_path, precision):
    """fp32 (the default): autocast is off around the penalty, so it matches the fp32 value; autocast:
    the critic pass runs in bf16 and the value stays close to fp32's."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(16, 16, 3, 2, 1),
                           nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(16 * 16 * 16, 1))
    seen: list[bool] = []

    def call(x, y):  # scaled so the gradient norm is near 1, the regime the penalty drives a critic to
        seen.append(torch.is_autocast_enabled("cpu"))
        return 10.0 * critic(x).squeeze(1)

    cfg = compose_cfg(tmp_path, ["model=wgan_gp", *TINY_NETS["dcgan"], f"model.penalty_precision={precision}"])
    model: GAN = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=0)
    real, fake = torch.randn(16, 1, 32, 32), torch.randn(16, 1, 32, 32)
    torch.manual_seed(1)
    fp32 = gradient_penalty(call, real, fake, None, None)
    seen.clear()
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = model.penalty_values(call, real, fake, None, None)["gradient_penalty"]
    assert value.dtype == torch.float32
    assert seen == [precision == "autocast"]
    if precision == "fp32":
        assert value.item() == pytest.approx(fp32.item(), rel=1e-6)
    else:
        assert value.item() != fp32.item() and value.item() == pytest.approx(fp32.item(), rel=0.05)


def test_penalty_every_runs_the_penalties_on_one_critic_step_in_k_with_k_times_the_weight(tmp_path):
    """Lazy regularization: the same expected penalty gradient for a k-th of the penalty passes."""
    cfg = compose_cfg(tmp_path, ["model=wgan_gp", *TINY_NETS["dcgan"], "model.penalty_every=3"])
    model: GAN = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=0)
    calls: list[int] = []

    def counting(critic, real, fake, y, d_real):
        calls.append(model.d_steps)
        return torch.tensor(2.0)

    model.penalties = {"gradient_penalty": (counting, 10.0)}
    real = fake = torch.zeros(4, 1, 32, 32)
    totals, logged = [], []
    for d_steps in range(6):
        model.d_steps = d_steps
        total, values = model.weighted_penalties(None, real, fake, None, None)
        totals.append(float(total))
        logged.append(sorted(values))
    assert calls == [0, 3]
    assert totals == [60.0, 0.0, 0.0, 60.0, 0.0, 0.0]
    assert logged == [["gradient_penalty"], [], [], ["gradient_penalty"], [], []]


def test_penalty_batch_estimates_the_penalties_on_the_first_samples_of_the_batch(tmp_path):
    """Each penalty is a mean over samples: penalty_batch=n hands it the batch's first n (and the
    critic scores, labels with them); a batch smaller than n goes whole."""
    cfg = compose_cfg(tmp_path, ["model=wgan_gp", *TINY_NETS["dcgan"], "model.penalty_batch=2"])
    model: GAN = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=0)
    seen: list[tuple[Tensor, Tensor, Tensor | None, Tensor]] = []

    def recording(critic, real, fake, y, d_real):
        seen.append((real, fake, y, d_real))
        return torch.tensor(1.0)

    model.penalties = {"gradient_penalty": (recording, 10.0)}
    real, fake = torch.randn(4, 1, 32, 32), torch.randn(4, 1, 32, 32)
    y, d_real = torch.arange(4), torch.randn(4)
    model.penalty_values(None, real, fake, y, d_real)
    got_real, got_fake, got_y, got_d = seen[-1]
    assert torch.equal(got_real, real[:2]) and torch.equal(got_fake, fake[:2])
    assert torch.equal(got_y, y[:2]) and torch.equal(got_d, d_real[:2])
    model.penalty_values(None, real[:1], fake[:1], None, d_real[:1])
    assert len(seen[-1][0]) == 1 and seen[-1][2] is None
    with pytest.raises(GanforgeError, match=r"model.penalty_batch \(3\) must be a multiple of model.pack \(2\)"):
        build(compose_cfg(tmp_path, ["model=wgan_gp", *TINY_NETS["dcgan"], "model.penalty_batch=3",
                                     "model.pack=2"]).model, "model", sample_shape=[1, 32, 32], num_classes=0)


# ---- 7: SRGAN's learning-rate drop -------------------------------------------------------------------
def test_srgan_drops_the_learning_rate_halfway_through_the_adversarial_phase(tmp_path):
    from test_sr import make_photos, sr_train

    make_photos(tmp_path / "photos")

    def train(where: str, *extra: str):
        return sr_train(tmp_path / where, "srgan", "g_iters=6", "model.pretrain_steps=2", "model.content_loss=pixel",
                        "checkpoint_every=3", *extra, photos=tmp_path / "photos")

    straight = train("straight")
    lrs = {float(r["progress/g_iters"]): float(r["train/lr_g"]) for r in csv_rows(straight) if r.get("train/lr_g")}
    # 4 adversarial iterations (g 3-6): 1e-4 for the first 2, then 1e-5
    assert lrs[3.0] == pytest.approx(1e-4) and lrs[4.0] == pytest.approx(1e-5) and lrs[6.0] == pytest.approx(1e-5)
    ckpt = last_ckpt(straight)
    assert [s["param_groups"][0]["lr"] for s in ckpt["optimizer_states"]] == pytest.approx([1e-5, 1e-5])
    mid = Path(straight.paths.output_dir) / "checkpoints" / "g0000003.ckpt"
    resumed = last_ckpt(train("resumed", f"ckpt_path={mid}"))  # the schedule resumes where it was
    assert resumed["lr_schedulers"] == ckpt["lr_schedulers"]  # (SR crops are not resume-exact: README)
    assert [s["param_groups"][0]["lr"] for s in resumed["optimizer_states"]] == pytest.approx([1e-5, 1e-5])


# ---- 8: the conditional critic ---------------------------------------------------------------------
def test_cgan_critic_is_spectrally_normalised_without_batchnorm(tmp_path):
    cfg = compose_cfg(tmp_path, ["model=cgan", *TINY_NETS["cgan"]])
    model = build(cfg.model, "model", sample_shape=[1, 32, 32], num_classes=10)
    layers = [m for m in model.discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert any(isinstance(m, nn.Embedding) for m in layers)  # the projection's class embedding too
    assert not [m for m in model.discriminator.modules() if isinstance(m, nn.BatchNorm2d)]


# ---- PacGAN ----------------------------------------------------------------------------------------
def flat(node, prefix: str = "") -> dict:
    from omegaconf import DictConfig, OmegaConf

    node = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else node
    if not isinstance(node, dict):
        return {prefix: node}
    return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}


@pytest.mark.parametrize("mixture", ["ring8", "grid25"])
def test_pacgan4_presets_are_their_gan_preset_with_four_points_per_critic_input(tmp_path, mixture):
    """The PacGAN table compares packing against the same GAN: the presets differ from the GAN
    preset in the packing and the training recipe only, and a batch holds 100 packs, as the
    authors' code feeds the critic."""
    gan = flat(compose_cfg(tmp_path, [f"experiment={mixture}_gan"]))
    packed_cfg = compose_cfg(tmp_path, [f"experiment={mixture}_pacgan4"])
    packed = flat(packed_cfg)
    changed = {k for k in gan.keys() | packed.keys() if gan.get(k) != packed.get(k)}
    recipe = {"model.pack.", "data.batch_size.", "model.generator.init_std.", "model.discriminator.init_std.",
              "model.optimizer_g.lr.", "model.optimizer_d.lr.", "model.lr_decay_start.", "model.simultaneous.",
              "g_iters.", "checkpoint_every.", "task_name.", "hydra.job.name.", "hydra.run.dir.", "hydra.sweep.dir."}
    assert changed - recipe == set(), changed - recipe
    assert packed["model.pack."] == 4 and packed["data.batch_size."] == 4 * gan["data.batch_size."] == 400
    dm = build(packed_cfg.data, "data")
    model = build(packed_cfg.model, "model", sample_shape=list(dm.sample_shape), num_classes=dm.num_classes)
    points = torch.randn(400, 2)
    assert model.discriminate(points).shape == (100,)  # one score per pack of 4 points
