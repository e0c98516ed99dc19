"""Bad input through the real command lines (one ``error:`` line, exit 2, no traceback, nothing
trained), checkpoints opened by one function, divergence stops a run, and a kill at any moment
loses at most one checkpoint interval."""

from __future__ import annotations

import collections
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, TINY_NETS, compose_cfg, make_image_files
from PIL import Image

from ganforge.errors import DivergedError, GanforgeError
from ganforge.files import atomic_path, open_checkpoint, torch_save_atomic
from ganforge.train import run

RING = ["model=gan", *TINY_NETS["gan"], "data=ring8", "data.batch_size=16", "data.num_points=512"]


def cli(script: str, tmp_path: Path, *args: str, timeout: float = 180,
        env: dict | None = None) -> subprocess.CompletedProcess:
    env = {"WANDB_MODE": "disabled", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GANFORGE_ROOT": str(tmp_path),
           "GANFORGE_DATA_DIR": str(tmp_path / "data"), "TORCH_HOME": str(tmp_path / "torch"), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)


def assert_refused(out: subprocess.CompletedProcess, message: str, tmp_path: Path) -> None:
    """Exit 2, exactly one ``error:`` line holding ``message``, no traceback, no checkpoint written."""
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert not [p for p in tmp_path.rglob("*.ckpt") if "outputs" in p.parts]


@pytest.fixture(scope="module")
def ring_ckpt(tmp_path_factory) -> Path:
    """A real (tiny) ganforge checkpoint to corrupt and to resume."""
    tmp = tmp_path_factory.mktemp("ring")
    cfg = compose_cfg(tmp, [*RING, *TINY])
    run(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


class Payload:
    """Not plain data: weights_only refuses to unpickle it."""


def bad_checkpoints(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Each way a checkpoint file goes wrong, with the message it must get."""
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "notes.ckpt"
    text.write_text("these are notes, not weights\n")
    truncated = folder / "truncated.ckpt"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    pickled = folder / "pickled.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "extra": Payload()}, pickled)
    foreign = folder / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    empty = folder / "empty.ckpt"
    empty.write_bytes(b"")
    return {
        "text": (text, "is not a checkpoint (not a PyTorch zip file)"),
        "truncated": (truncated, "is truncated"),
        "pickled": (pickled, "holds Python objects beyond tensors and plain data"),
        "foreign": (foreign, "is a PyTorch file but not a checkpoint of a ganforge model"),
        "empty": (empty, "is empty (0 bytes)"),
    }


# ---- one function opens checkpoints ----------------------------------------------------------
def test_open_checkpoint_names_each_problem_in_one_line(tmp_path, ring_ckpt):
    assert open_checkpoint(ring_ckpt)["counters"]["g_iters"] == 3
    for path, message in bad_checkpoints(tmp_path, ring_ckpt).values():
        with pytest.raises(GanforgeError, match=re.escape(message)) as caught:
            open_checkpoint(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(GanforgeError, match="does not exist"):
        open_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(GanforgeError, match="is a folder"):
        open_checkpoint(tmp_path)


# ---- every entry point refuses bad input with one line ----------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["seed=abc"], "seed must be a whole number or null, got 'abc'"),
    (["g_iters=2.5"], "g_iters must be a whole number >= 1 or null, got 2.5"),
    (["nan_policy=maybe"], "nan_policy must be one of stop, warn, got 'maybe'"),
    (["model.penalty_precision=bf16"], "model.penalty_precision must be one of fp32, autocast, got 'bf16'"),
    (["model.penalty_every=0"], "model.penalty_every must be a whole number >= 1, got 0"),
    (["model.penalty_batch=0"], "model.penalty_batch must be a whole number >= 1 or null, got 0"),
    (["model.penalty_batch=100000"], "model.penalty_batch (100000) is larger than data.batch_size"),
    (["model.pack=2", "model.penalty_batch=3"], "model.penalty_batch (3) must be a multiple of model.pack (2)"),
    (["model.optimizer_g.lr=-1"], "model.optimizer_g: Invalid learning rate: -1"),
    (["+model.optimizer_d.momentum=0.9"], "model.optimizer_d.momentum: Adam has no setting 'momentum'; it takes "
                                          "amsgrad, betas"),
    (["trainer.precision=17"], "trainer.precision must be one of 64, 32, 16, transformer-engine"),
    (["+model.generator.widht=64"], "model.generator.widht: MLPGenerator has no setting 'widht'; it takes "
                                    "batch_norm, embed_dim, hidden"),
    (["+model.critic_warmup={n_critic: 0, first: 1, every: 0}"], "model.critic_warmup needs n_critic >= 1"),
    (["logger=wandb", "logger.wandb.log_model=sometimes"], "logger.wandb: log_model must be false, best or all"),
    (["logger=wandb", "logger.wandb.step_metric=epoch"], "logger.wandb: step_metric must be one of progress/kimg"),
    (["callbacks=images"], "callbacks.evaluation: needs image data with reference images, and Toy2DDataModule"),
    (["callbacks=super_resolution"], "callbacks.sr_validation: needs a super-resolution model"),
    (["+g_iter=10"], "+g_iter: train.py has no top-level setting 'g_iter', so it would be ignored; did you mean "
                     "g_iters?"),
    (["trainer.max_steps=40"], "trainer.max_steps=40 counts every optimizer step (critic and generator); the "
                               "run's length is g_iters=<N> generator iterations"),
    (["+trainer.accumulate_grad_batches=4"], "trainer.accumulate_grad_batches=4 does not apply"),
])
def test_train_refuses_bad_settings_in_one_line(tmp_path, args, message):
    out = cli("train.py", tmp_path, *RING, "trainer=cpu", "logger=none", "g_iters=3", *args)
    assert_refused(out, message, tmp_path)


def test_train_refuses_compiling_without_a_cpp_compiler_in_one_line(tmp_path):
    out = cli("train.py", tmp_path, "experiment=ring8_gan", "trainer=cpu", "logger=none", "g_iters=3",
              env={"CXX": str(tmp_path / "no-such-compiler")})  # the preset compiles its nets
    assert_refused(out, "model.compile=true compiles the nets with torch.compile, which needs a C++ compiler", tmp_path)
    assert "train without compiling: model.compile=false" in out.stderr


@pytest.mark.parametrize("model", ["wgan_gp", "dcgan"])
def test_train_refuses_an_unknown_critic_norm_in_one_line(tmp_path, model):
    make_image_files(tmp_path / "imgs", 4)
    out = cli("train.py", tmp_path, f"model={model}", *TINY_NETS[model], "data=image_folder",
              f"data.root={tmp_path / 'imgs'}", "data.resolution=32", "data.batch_size=2", "trainer=cpu",
              "logger=none", "g_iters=3", "model.discriminator.norm=instance")
    assert_refused(out, "DCGANDiscriminator norm must be one of batch, layer, none, got 'instance'", tmp_path)


@pytest.mark.parametrize(("args", "message"), [
    (["data.storage=disk"], "data.storage must be one of auto, memory, mapped, got 'disk'"),
    (["data.max_memory_gb=0"], "data.max_memory_gb must be a number > 0, got 0"),
    (["data.decode_stall_s=0"], "data.decode_stall_s must be a number > 0, got 0"),
    (["metrics.batch_size=0"], "metrics.batch_size must be at least 1 (or null for the device's default), got 0"),
    (["data.storage=memory", "data.max_memory_gb=1e-9"], "GiB in memory, over data.max_memory_gb=1e-09"),
    (["data.max_memory_gb=1e-9", "data.cache_dir=null"], "which needs data.cache_dir"),
])
def test_train_refuses_bad_image_storage_in_one_line(tmp_path, args, message):
    make_image_files(tmp_path / "imgs", 4)
    out = cli("train.py", tmp_path, "model=gan", *TINY_NETS["gan"], "data=image_folder",
              f"data.root={tmp_path / 'imgs'}", "data.resolution=16", "data.batch_size=2", "trainer=cpu",
              "logger=none", "g_iters=3", *args)
    assert_refused(out, message, tmp_path)


@pytest.mark.parametrize("case", ["text", "truncated", "pickled", "foreign"])
def test_train_refuses_bad_checkpoints_in_one_line(tmp_path, ring_ckpt, case):
    path, message = bad_checkpoints(tmp_path / "bad", ring_ckpt)[case]
    out = cli("train.py", tmp_path, *RING, "trainer=cpu", "logger=none", "g_iters=6", f"ckpt_path={path}")
    assert_refused(out, f"ckpt_path={path} {message}", tmp_path)


def test_train_refuses_a_checkpoint_of_other_settings_before_training(tmp_path, ring_ckpt):
    out = cli("train.py", tmp_path, *RING, "trainer=cpu", "logger=none", "g_iters=6", "model.z_dim=7",
              f"ckpt_path={ring_ckpt}")
    assert_refused(out, "the checkpoint was trained with other model settings (z_dim: checkpoint 64 vs now 7)",
                   tmp_path)


def test_train_refuses_a_folder_smaller_than_one_batch(tmp_path):
    make_image_files(tmp_path / "few", 3)
    out = cli("train.py", tmp_path, "data=image_folder", f"data.root={tmp_path / 'few'}", "data.resolution=32",
              "data.batch_size=8", "trainer=cpu", "logger=none", "g_iters=2")
    assert_refused(out, "the dataset has 3 samples, fewer than one batch (data.batch_size=8)", tmp_path)


@pytest.mark.parametrize(("script", "args", "message"), [
    ("evaluate.py", ["seed=abc"], "seed must be a whole number, got 'abc'"),
    ("evaluate.py", ["device=tpu9"], "device='tpu9' is not a device"),
    ("evaluate.py", ["precision=fp8"], "precision must be one of auto, 32-true, bf16-mixed, 16-mixed, got 'fp8'"),
    ("evaluate.py", [], "ckpt_path="),  # the text file: see below
    ("sample.py", ["grid_size=0"], "grid_size must be a whole number >= 1, got 0"),
    ("sample.py", ["interpolation.steps=1"], "interpolation.steps must be a whole number >= 2, got 1"),
    ("upscale.py", ["tile=abc", "input=x.png", "output=y.png"], "tile must be a whole number >= 16, got 'abc'"),
])
def test_evaluate_sample_upscale_refuse_bad_settings_in_one_line(tmp_path, ring_ckpt, script, args, message):
    notes = tmp_path / "notes.ckpt"
    notes.write_text("not a checkpoint")
    ckpt = notes if not args else ring_ckpt
    out = cli(script, tmp_path, f"ckpt_path={ckpt}", *args)
    assert_refused(out, message, tmp_path)
    if not args:
        assert "is not a checkpoint (not a PyTorch zip file)" in out.stderr


def test_missing_ckpt_path_is_one_line(tmp_path):
    assert_refused(cli("sample.py", tmp_path), "ckpt_path is required: add ckpt_path=<value>", tmp_path)


# ---- divergence ------------------------------------------------------------------------------
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    """A generator learning rate of 1e30: finite weights after the first iteration (saved), NaN
    losses at the second. The run stops there, exit 2, and last.ckpt stays the good one."""
    out = cli("train.py", tmp_path, *RING, "trainer=cpu", "logger=none", "g_iters=50", "checkpoint_every=1",
              "trainer.log_every_n_steps=1", "trainer.enable_model_summary=false", "model.optimizer_g.lr=1e30")
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in out.stderr
    assert "error: losses became non-finite at generator iteration 2 (" in errors[0]
    last = next(tmp_path.rglob("checkpoints/last.ckpt"))
    assert f"last good checkpoint: {last}" in errors[0]
    checkpoint = open_checkpoint(last)
    assert checkpoint["counters"]["g_iters"] == 1
    assert all(bool(torch.isfinite(v).all()) for v in checkpoint["state_dict"].values() if v.is_floating_point())
    summary = json.loads((last.parent.parent / "summary.json").read_text())
    assert summary["status"] == "diverged" and "non-finite" in summary["error"]


def test_nan_policy_warn_trains_on_and_a_sweep_ranks_a_diverged_trial(tmp_path, monkeypatch, caplog):
    bad = [*RING, *TINY, "g_iters=4", "model.optimizer_g.lr=1e30", "checkpoint_every=100"]
    run(compose_cfg(tmp_path / "warn", [*bad, "nan_policy=warn"]))
    assert "training goes on (nan_policy=warn)" in caplog.text
    with pytest.raises(DivergedError, match="losses became non-finite"):
        run(compose_cfg(tmp_path / "stop", bad))
    import ganforge.train

    monkeypatch.setattr(ganforge.train, "in_multirun", lambda: True)
    monkeypatch.setattr(ganforge.train, "sweep_dir", lambda: None)
    assert run(compose_cfg(tmp_path / "trial", [*bad, "objective=auto", "objective_penalty=123"])) == 123.0


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    from types import SimpleNamespace

    from ganforge.callbacks.divergence import DivergenceGuard

    trainer = SimpleNamespace(checkpoint_callback=None)
    module = SimpleNamespace(g_iters=7)
    good = {"state_dict": {"w": torch.ones(2), "steps": torch.tensor(3)}}
    DivergenceGuard("stop").on_save_checkpoint(trainer, module, good)
    with pytest.raises(DivergedError, match=r"weights became non-finite at generator iteration 7 \(w\)"):
        broken = {"state_dict": {"w": torch.tensor([1.0, math.nan])}}
        DivergenceGuard("stop").on_save_checkpoint(trainer, module, broken)


# ---- crash safety ----------------------------------------------------------------------------
def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    torch_save_atomic({"v": torch.ones(3)}, target)

    def half_then_die(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # the process is being killed mid-write

    monkeypatch.setattr(torch, "save", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        torch_save_atomic({"v": torch.zeros(3)}, target)
    monkeypatch.undo()
    assert torch.equal(torch.load(target, weights_only=True)["v"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "a.txt").read_text() == "x"


def _weights(path: Path) -> collections.OrderedDict:
    return open_checkpoint(path)["state_dict"]


def test_sigkill_during_training_loses_at_most_one_checkpoint_interval(tmp_path):
    """Kill a run with SIGKILL mid-training (after its first checkpoint), resume from its last.ckpt
    to N iterations: the weights equal, bit for bit, those of an uninterrupted N-iteration run."""
    common = [*RING, "trainer=cpu", "logger=none", "callbacks.mode_coverage=null",
              "callbacks.samples.every_n_g_iters=100000", "callbacks.progress_bar=null",
              "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "checkpoint_every=15"]
    env = {**os.environ, "WANDB_MODE": "disabled", "GANFORGE_ROOT": str(tmp_path / "killed")}
    (tmp_path / "killed").mkdir()
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *common, "g_iters=1000000"], env=env,
                            cwd=tmp_path / "killed", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "killed").rglob("checkpoints/g*.ckpt")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
            time.sleep(0.05)
        time.sleep(float(np.random.default_rng().uniform(0.0, 0.3)))  # anywhere in the next interval
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    last = next((tmp_path / "killed").rglob("checkpoints/last.ckpt"))
    saved = open_checkpoint(last)["counters"]["g_iters"]  # whole and readable after the kill
    assert saved >= 15 and saved % 15 == 0
    total = saved + 20

    resumed = compose_cfg(tmp_path / "resumed", [*TINY, *common, f"g_iters={total}", f"ckpt_path={last}"])
    run(resumed)
    straight = compose_cfg(tmp_path / "straight", [*TINY, *common, f"g_iters={total}"])
    run(straight)
    a = _weights(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt")
    b = _weights(Path(straight.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_saves_says_how_to_resume_and_exits_128_plus_the_signal(tmp_path, signum, status):
    """The run stops after the generator iteration it is in, saves last.ckpt there, records
    ``interrupted``, prints one line with the command that resumes it, and that command resumes."""
    common = [*RING, "trainer=cpu", "logger=none", "callbacks.mode_coverage=null",
              "callbacks.samples.every_n_g_iters=100000", "trainer.enable_model_summary=false", "checkpoint_every=15"]
    env = {**os.environ, "WANDB_MODE": "disabled", "GANFORGE_ROOT": str(tmp_path)}
    with open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *common, "g_iters=1000000"], env=env,
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while not list(tmp_path.rglob("checkpoints/g*.ckpt")):
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
                time.sleep(0.05)
            proc.send_signal(signum)
            assert proc.wait(timeout=60) == status, (tmp_path / "err.txt").read_text()[-3000:]
        finally:
            proc.kill()
    stderr = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in stderr
    line = next(x for x in stderr.splitlines() if x.startswith("interrupted ("))
    found = re.fullmatch(rf"interrupted \({signum.name}\) at generator iteration (\d+); resume with: "
                         r"python train\.py (.*) ckpt_path=(\S+/checkpoints/last\.ckpt)", line)
    assert found, line
    g, overrides, last = int(found[1]), shlex.split(found[2]), Path(found[3])
    assert open_checkpoint(last)["counters"]["g_iters"] == g > 0  # saved where it stopped, not at the last period
    assert overrides == [*common, "g_iters=1000000"]
    summary = json.loads((last.parent.parent / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["error"] is None
    resumed = compose_cfg(tmp_path / "resumed", [*TINY, *overrides, f"g_iters={g + 3}", f"ckpt_path={last}"])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run(resumed)
    assert not [w for w in seen if "dirpath has changed" in str(w.message)]  # a resume's new run dir is intended
    assert open_checkpoint(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt")["counters"]["g_iters"] == g + 3


def test_a_resume_already_at_its_length_says_what_to_raise(tmp_path, ring_ckpt):
    out = cli("train.py", tmp_path, *RING, *TINY, f"ckpt_path={ring_ckpt}")
    assert_refused(out, f"ckpt_path={ring_ckpt} is at generator iteration 3, already at or past g_iters=3: raise "
                   "g_iters (e.g. g_iters=6) to train on", tmp_path)


def test_a_finished_run_says_where_everything_is_and_what_to_run_next(tmp_path):
    out = cli("train.py", tmp_path, *RING, *TINY, "callbacks.mode_coverage=null")
    assert out.returncode == 0, out.stderr[-3000:]
    report = out.stdout[out.stdout.index("finished: 3 generator iterations"):]
    run_dir = Path(re.search(r"run dir (\S+)", report)[1])
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.is_file() and f"last.ckpt:     {last}" in report
    assert f"samples:       {run_dir / 'samples'}" in report
    assert f"evaluate:      python evaluate.py ckpt_path={last}" in report
    assert re.search(r"final metrics: .*train/loss_d [-0-9.e]+", report)
    args = shlex.split(report.split("train on:      python train.py ")[1].splitlines()[0])
    given = [o for o in [*RING, *TINY, "callbacks.mode_coverage=null"] if not o.startswith("g_iters=")]
    assert args == [*given, "g_iters=6", f"ckpt_path={last}"]  # the run's g_iters=3 replaced


# ---- upscale: a single unreadable input is an error, a folder skips and counts -----------------
def test_upscale_single_corrupt_input_is_an_error_and_a_folder_counts_what_it_wrote(tmp_path):
    from test_sr import make_photos, sr_train

    make_photos(tmp_path / "photos")
    ckpt = Path(sr_train(tmp_path / "a", "srresnet", "g_iters=1", photos=tmp_path / "photos").paths.output_dir)
    ckpt = ckpt / "checkpoints" / "last.ckpt"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = cli("upscale.py", tmp_path, f"ckpt_path={ckpt}", f"input={inputs / 'broken.png'}",
              f"output={tmp_path / 'o.png'}", "device=cpu")
    assert_refused(out, f"input {inputs / 'broken.png'} is not a readable image", tmp_path)
    assert not (tmp_path / "o.png").exists()
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(inputs / "good.png")
    out = cli("upscale.py", tmp_path, f"ckpt_path={ckpt}", f"input={inputs}", f"output={tmp_path / 'out'}",
              "device=cpu")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "upscaled 1 of 2 images x4" in out.stdout and "1 unreadable files skipped" in out.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]


def test_console_is_quiet_and_lightnings_messages_go_to_the_log_file(tmp_path):
    out = cli("train.py", tmp_path, *RING, "trainer=cpu", "logger=none", "g_iters=2")
    assert out.returncode == 0, out.stderr[-3000:]
    console = out.stdout + out.stderr
    for noise in ("Tip:", "GPU available", "TPU available", "Total FLOPs", "Trainer.fit` stopped"):
        assert noise not in console, noise
    assert "run dir" in console and "done: g_iter 2" in console
    log = next(tmp_path.rglob("train.log")).read_text()
    assert "GPU available" in log and "Total params" in log
    assert "max_steps=" not in log  # the loop's g_iters limit, which Lightning would call max_steps


@pytest.mark.parametrize(("args", "message"), [
    (["data.sources=[skimage,unsplash]"], "data.sources must name some of ['skimage', 'mate-backgrounds'"),
    (["data.max_side=64"], "data.max_side (64) must be at least data.crop (96)"),
    (["data.val_root=/tmp"], "data=sr_photos holds out its photos by name"),
    (["data.download=false"], "and data.download=false. Run once with data.download=true"),
])
def test_sr_photos_bad_settings_are_refused_on_the_command_line(tmp_path, args, message):
    assert_refused(cli("train.py", tmp_path, "model=srresnet", "data=sr_photos", "trainer=cpu", "logger=none", *args),
                   message, tmp_path)
