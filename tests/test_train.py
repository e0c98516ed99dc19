"""Training smoke runs through ganforge.train.run, as train.py calls it."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY, TINY_NETS, compose_cfg, data_overrides
from omegaconf import OmegaConf

from ganforge.errors import GanforgeError
from ganforge.lightning_internals import completed_epochs
from ganforge.resume import check_not_finished
from ganforge.schedules import critic_steps_total
from ganforge.train import run

IMAGES = ("fashion_mnist", "mnist", "cifar10", "celeba", "image_folder")
LABELLED = ("fashion_mnist", "mnist", "cifar10")
SUPPORTED = {  # every model config and the datasets it can train on
    "gan": IMAGES + ("ring8", "grid25"),
    "dcgan": IMAGES, "lsgan": IMAGES, "wgan": IMAGES, "wgan_gp": IMAGES, "sngan": IMAGES,
    "cgan": LABELLED,
}
PAIRS = [(m, d) for m, datasets in SUPPORTED.items() for d in datasets]


def train(tmp_path: Path, model: str, data: str, data_root: Path, *extra: str):
    cfg = compose_cfg(tmp_path, [f"model={model}", *TINY_NETS[model], *data_overrides(data, data_root), *TINY, *extra])
    run(cfg)
    return cfg


def last_metrics(run_dir: Path) -> dict[str, float]:
    import csv

    rows = list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))
    out: dict[str, float] = {}
    for row in rows:
        out.update({k: float(v) for k, v in row.items() if v != ""})
    return out


@pytest.mark.parametrize(("model", "data"), PAIRS)
def test_every_model_trains_on_every_dataset(tmp_path, data_root, fake_cifar, model, data):
    cfg = train(tmp_path, model, data, data_root, "logger=csv")
    run_dir = Path(cfg.paths.output_dir)
    metrics = last_metrics(run_dir)
    for key in ("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"):
        assert math.isfinite(metrics[key]), key
    assert metrics["progress/g_iters"] == 3
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["g0000001.png", "g0000002.png",
                                                                        "g0000003.png"]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)  # plain data only
    assert ckpt["counters"]["g_iters"] == 3
    d_steps = critic_steps_total(3, cfg.model.n_critic, cfg.model.get("critic_warmup"))  # wgan: its warm-up
    assert ckpt["counters"]["d_steps"] == d_steps
    assert ckpt["global_step"] == d_steps + 3  # Lightning counts every D and G step


def test_n_critic_steps_the_critic_n_times_per_generator_step(tmp_path, data_root):
    cfg = train(tmp_path, "gan", "ring8", data_root, "model.n_critic=5", "g_iters=2")
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"]["d_steps"] == 10 and ckpt["counters"]["g_iters"] == 2
    assert ckpt["global_step"] == 12


def test_run_ends_at_g_iters_whatever_n_critic(tmp_path, data_root):
    """The loop counts its own unit: no step limit is derived from n_critic; a resume that already
    has its g_iters is refused with what to raise, and one with more trains on to it."""
    cfg = train(tmp_path / "a", "gan", "ring8", data_root, "model.n_critic=3", "g_iters=4")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["counters"]["g_iters"] == 4 and ckpt["global_step"] == 16 and cfg.trainer.max_steps == -1
    with pytest.raises(GanforgeError, match="already at or past g_iters=4: raise g_iters"):
        train(tmp_path / "b", "gan", "ring8", data_root, "model.n_critic=3", "g_iters=4", f"ckpt_path={last}")
    again = train(tmp_path / "c", "gan", "ring8", data_root, "model.n_critic=3", "g_iters=6", f"ckpt_path={last}")
    resumed = torch.load(Path(again.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["counters"]["g_iters"] == 6 and resumed["global_step"] == 24


def test_conditional_model_on_labelled_data_and_refused_without_labels(tmp_path, data_root):
    train(tmp_path / "a", "dcgan", "mnist", data_root, "model.conditional=true")
    with pytest.raises(GanforgeError, match="conditional.*but the data has no class labels"):
        train(tmp_path / "b", "dcgan", "image_folder", data_root, "model.conditional=true")


def _weights(cfg) -> dict[str, torch.Tensor]:
    return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_resume_is_exact(tmp_path, data_root):
    common = ["model.ema_decay=0.9", "checkpoint_every=100"]  # EMA and fixed noise travel too
    straight = train(tmp_path / "straight", "dcgan", "mnist", data_root, "g_iters=6", *common)
    half = train(tmp_path / "half", "dcgan", "mnist", data_root, "g_iters=3", *common)
    resumed = train(tmp_path / "resumed", "dcgan", "mnist", data_root, "g_iters=6", *common,
                    f"ckpt_path={Path(half.paths.output_dir) / 'checkpoints' / 'last.ckpt'}")
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(k.startswith("ema.") for k in b)
    ckpt = torch.load(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"] == {"g_iters": 6, "d_steps": 6, "images_seen": 6 * 8, "critic_steps": 0}


def test_resume_of_an_epoch_bounded_run_finishes_the_interrupted_epoch(tmp_path, data_root):
    # A run bounded by epochs (g_iters=null), stopped mid-epoch as SIGTERM stops it (at a step limit),
    # resumes where it stopped: the rest of the epoch is trained, not skipped, and no epoch is lost.
    epochs = ["g_iters=null", "trainer.max_epochs=2", "checkpoint_every=100"]
    straight = train(tmp_path / "straight", "dcgan", "mnist", data_root, *epochs)
    done = torch.load(Path(straight.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["counters"]
    per_epoch = done["g_iters"] // 2
    assert per_epoch > 3  # so that g_iters=3 stops inside the first epoch
    half = train(tmp_path / "half", "dcgan", "mnist", data_root, "g_iters=3", "checkpoint_every=100")
    stopped = Path(half.paths.output_dir) / "checkpoints" / "last.ckpt"
    saved = torch.load(stopped, weights_only=True)
    assert completed_epochs(saved) == 0  # Lightning's own record says 1
    # one epoch budget is not yet spent by a run stopped inside its first epoch: it is resumable
    check_not_finished(OmegaConf.create({"g_iters": None, "trainer": {"max_epochs": 1}}), saved, "last.ckpt")
    resumed = train(tmp_path / "resumed", "dcgan", "mnist", data_root, *epochs, f"ckpt_path={stopped}")
    ckpt = torch.load(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"] == done, (ckpt["counters"], done)
    a, b = _weights(straight), _weights(resumed)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_changed_hparams(tmp_path, data_root):
    half = train(tmp_path / "half", "dcgan", "mnist", data_root, "g_iters=2")
    with pytest.raises(GanforgeError, match=r"other model settings \(optimizer_d: .*Resume with the run's own"):
        train(tmp_path / "resumed", "dcgan", "mnist", data_root, "g_iters=4", "model.optimizer_d.lr=0.1",
              f"ckpt_path={Path(half.paths.output_dir) / 'checkpoints' / 'last.ckpt'}")
    # how the model runs may change on resume (another device), what it is may not
    train(tmp_path / "other_device", "dcgan", "mnist", data_root, "g_iters=3", "model.channels_last=false",
          f"ckpt_path={Path(half.paths.output_dir) / 'checkpoints' / 'last.ckpt'}")
    with pytest.raises(GanforgeError, match="ckpt_path=.*does not exist"):
        train(tmp_path / "none", "dcgan", "mnist", data_root, "ckpt_path=/no/such.ckpt")
    # a checkpoint from before model.pack existed resumes (it trained unpacked), and pack=2 is refused
    old = Path(half.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(old, weights_only=True)
    del checkpoint["hyper_parameters"]["pack"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    train(tmp_path / "from_old", "dcgan", "mnist", data_root, "g_iters=3", f"ckpt_path={tmp_path / 'old.ckpt'}")
    with pytest.raises(GanforgeError, match="pack: checkpoint 1 vs now 2"):
        train(tmp_path / "packed", "dcgan", "mnist", data_root, "g_iters=3", "model.pack=2",
              f"ckpt_path={tmp_path / 'old.ckpt'}")


def test_wandb_offline_run_keeps_config_and_images(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = train(tmp_path, "gan", "mnist", data_root, "logger=wandb")
    runs = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # W&B 0.31 keeps an offline run's config and history in its record log (uploaded by `wandb sync`)
    (record_log,) = runs[0].glob("run-*.wandb")
    # The W&B service (a separate process that outlives wandb.finish() inside pytest) may still be
    # flushing the log: seen once with only the 7-byte header read, complete seconds later.
    wanted = (b"checkpoint_every", b"MLPGenerator", b"train/loss_d")
    deadline = time.monotonic() + 30
    while not all(w in record_log.read_bytes() for w in wanted) and time.monotonic() < deadline:
        time.sleep(0.5)
    blob = record_log.read_bytes()
    assert all(w in blob for w in wanted), blob[:200]
    assert list((runs[0] / "files" / "media" / "images").glob("samples_*.png"))


def test_tensorboard_logger_gets_images(tmp_path, data_root):
    cfg = train(tmp_path, "gan", "ring8", data_root, "logger=tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (Path(cfg.paths.output_dir) / "tensorboard").rglob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert "samples" in acc.Tags()["images"]
    # TensorBoard's step is images seen (as W&B's axis is kimg), not Lightning's optimizer step
    images_seen = 3 * cfg.data.batch_size
    assert acc.Scalars("train/loss_d")[-1].step == images_seen
    assert acc.Images("samples")[-1].step == images_seen


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin", "GANFORGE_ROOT": str(tmp_path),
           "GANFORGE_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), "debug=default", "trainer=cpu", *args],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)


def test_cli_bad_image_size_fails_before_training_with_one_message(tmp_path):
    out = _cli(tmp_path, "data=cifar10", "data.resolution=48", "data.download=false")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "error: model: DCGAN generator supports square images of 32, 64, 128 px, got 48x48" in out.stderr
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def test_cli_missing_data_offline(tmp_path):
    """The error comes before any W&B line, and no run directory is left that looks like a run."""
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "trainer=cpu", "data=cifar10", "data.download=false",
                          "logger=wandb", "g_iters=2"], capture_output=True, text=True, timeout=180, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "GANFORGE_ROOT": str(tmp_path), "WANDB_MODE": "offline",
                              "GANFORGE_DATA_DIR": str(tmp_path / "data")})
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"error: CIFAR-10 was not found under {tmp_path}/data/cifar-10-batches-py" in out.stderr
    assert "W&B" not in out.stdout + out.stderr and "wandb:" not in out.stdout + out.stderr
    runs = tmp_path / "outputs" / "train" / "runs"
    assert not (list(runs.iterdir()) if runs.is_dir() else [])


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("WANDB_MODE", "bogus", "error: WANDB_MODE='bogus' is not a W&B mode: use one of online, offline, disabled"),
    ("WANDB_BASE_URL", "http://host:port", "(W&B variables in this environment: WANDB_BASE_URL='http://host:port')"),
    ("WANDB_CONSOLE", "sideways", "(W&B variables in this environment: WANDB_CONSOLE='sideways')"),
])
def test_a_bad_wandb_variable_is_one_line_naming_it(tmp_path, variable, value, message):
    env = {"PATH": "/usr/bin:/bin", "GANFORGE_ROOT": str(tmp_path), "GANFORGE_DATA_DIR": str(tmp_path / "data"),
           variable: value}
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "trainer=cpu", "model=gan", "data=ring8",
                          "logger=wandb", "g_iters=2"], capture_output=True, text=True, timeout=180, env=env,
                         cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert message in out.stderr and "Traceback" not in out.stderr


def test_cli_empty_image_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    out = _cli(tmp_path, "data=image_folder", f"data.root={tmp_path / 'imgs'}")
    assert out.returncode == 2
    assert f"error: the folder {tmp_path / 'imgs'} has no files; put images in it" in out.stderr


def test_cli_two_d_data_with_a_conv_model(tmp_path):
    out = _cli(tmp_path, "data=ring8", "model=dcgan")
    assert out.returncode == 2
    assert "needs images (channels, height, width) but the data gives samples of shape (2,)" in out.stderr


def test_metrics_reach_the_logger_every_log_every_n_steps(tmp_path, data_root):
    cfg = train(tmp_path, "gan", "ring8", data_root, "logger=csv", "g_iters=12", "trainer.log_every_n_steps=5")
    import csv

    rows = list(csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")))
    logged = [int(float(r["progress/g_iters"])) for r in rows if r.get("train/loss_d")]
    assert logged == [5, 10]  # batches 5 and 10 of 12 (one batch per generator iteration here)
    assert all(r["train/loss_g"] for r in rows if r.get("train/loss_d"))


def test_only_the_newest_checkpoint_keep_periodic_checkpoints_stay(tmp_path):
    from ganforge.train import run

    ring = ["model=gan", *TINY_NETS["gan"], "data=ring8", "data.num_points=512", "callbacks.mode_coverage=null"]
    cfg = compose_cfg(tmp_path, [*ring, *TINY, "g_iters=8", "checkpoint_every=2", "checkpoint_keep=2"])
    run(cfg)
    names = sorted(p.name for p in (Path(cfg.paths.output_dir) / "checkpoints").glob("*.ckpt"))
    assert names == ["g0000006.ckpt", "g0000008.ckpt", "last.ckpt"]
