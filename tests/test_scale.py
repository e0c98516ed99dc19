"""Scale and experiment management: 2-process CPU DDP, -m sweeps with their summary table and
W&B group, the Optuna search (sqlite, resumable, failures tolerated), and the SLURM launcher config."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, compose_cfg

from ganforge.sweep import objective_value

QUIET = ["trainer.enable_model_summary=false", "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
         "checkpoint_every=1000"]
FAST_2D = [*QUIET, "model.generator.hidden=[32,32]", "model.discriminator.hidden=[32,32]"]


def cli(tmp_path: Path, *args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GANFORGE_ROOT": str(tmp_path),
                   "WANDB_MODE": "offline", "HOME": str(tmp_path), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=environment, cwd=tmp_path)


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


def logged(run_dir: Path, key: str) -> list[float]:
    rows = csv.DictReader(open(run_dir / "csv" / "metrics.csv"))
    return [float(r[key]) for r in rows if r.get(key)]


# ---- DDP on CPU ------------------------------------------------------------------------------
@pytest.mark.slow
def test_ddp_cpu_matches_single_process_and_its_checkpoint_resumes_alone(tmp_path):
    """2 gloo processes x 32 vs 1 process x 64 (the same total batch): losses of the same magnitude;
    rank 0 alone writes; the DDP checkpoint resumes in one process."""
    common = ["model=gan", "data=ring8", "g_iters=150", "logger=csv", "seed=3", *FAST_2D]
    ddp = cli(tmp_path / "ddp", "trainer=ddp_cpu", "data.batch_size=32", *common)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = cli(tmp_path / "one", "trainer=cpu", "data.batch_size=64", *common)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp_dir = only(list((tmp_path / "ddp" / "outputs" / "train" / "runs").iterdir()))
    one_dir = only(list((tmp_path / "one" / "outputs" / "train" / "runs").iterdir()))

    for key in ("train/loss_d", "train/loss_g"):
        a, b = logged(ddp_dir, key)[-5:], logged(one_dir, key)[-5:]
        mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
        assert 1 / 3 < mean_a / mean_b < 3, (key, mean_a, mean_b)
    ckpt = torch.load(ddp_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["counters"]["g_iters"] == 150
    assert ckpt["counters"]["images_seen"] == 150 * 64  # both ranks' images are counted
    # Rank 0 alone writes: one run directory, one metrics file, one set of grids and checkpoints.
    assert only(list(ddp_dir.glob("csv/metrics.csv")))
    assert json.loads((ddp_dir / "summary.json").read_text())["status"] == "finished"

    resumed = cli(tmp_path / "resume", "trainer=cpu", "data.batch_size=32", *common[:-len(FAST_2D)],
                  *FAST_2D, "g_iters=160", f"ckpt_path={ddp_dir / 'checkpoints' / 'last.ckpt'}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    res_dir = only(list((tmp_path / "resume" / "outputs" / "train" / "runs").iterdir()))
    assert torch.load(res_dir / "checkpoints" / "last.ckpt", weights_only=True)["counters"]["g_iters"] == 160


# ---- -m sweeps -------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_sweep_of_ddp_jobs_runs_each_job_once_with_spawned_processes(tmp_path):
    """Lightning's DDP launcher re-runs the command line (with -m) in each process; inside a sweep
    the jobs spawn their processes instead, so two jobs give two runs, each trained to the end."""
    result = cli(tmp_path, "-m", "trainer=ddp_cpu", "model=gan", "data=ring8", "g_iters=40", "logger=csv",
                 "seed=1,2", *FAST_2D)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "-> ddp_spawn_find_unused_parameters_true inside this -m sweep" in result.stdout
    sweeps = list((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    jobs = sorted(p for p in only(sweeps).iterdir() if p.is_dir())
    assert [p.name.split("_")[0] for p in jobs] == ["0", "1"]
    for job in jobs:
        assert torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)["counters"]["g_iters"] == 40
        assert json.loads((job / "summary.json").read_text())["metrics"]["progress/g_iters"] == 40
    assert result.stdout.count("finished: 40 generator iterations") == 2


def test_multirun_sweep_writes_a_summary_table_and_groups_wandb_runs(tmp_path):
    out = cli(tmp_path, "-m", "experiment=ring8_gan,ring8_wgan_gp", "seed=1,2", "g_iters=4", "trainer=cpu",
              "model.compile=false",  # compiling takes longer than these 4 iterations (tests/test_compile.py)
              "logger=[wandb,csv]", "callbacks=points", "callbacks.mode_coverage.every_n_g_iters=2", *QUIET)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = only(list((tmp_path / "outputs" / "train" / "multiruns").iterdir()))
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in jobs] == ["0_ring8_gan_s1", "1_ring8_gan_s2", "2_ring8_wgan_gp_s1", "3_ring8_wgan_gp_s2"]
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"]
    assert all(r["status"] == "finished" and r["best_checkpoint"].endswith("last.ckpt") for r in rows)
    assert all(0 <= float(r["val/modes"]) <= 8 for r in rows)
    assert "experiment=ring8_wgan_gp" in rows[2]["overrides"] and "seed=1" in rows[2]["overrides"]
    markdown = (sweep / "summary.md").read_text()
    assert markdown.startswith("| job | overrides | status |") and markdown.count("\n") == 6
    assert "Sweep summary" in out.stdout and "| 3 |" in out.stdout
    # One W&B run per job (wandb.finish between jobs), all in the group named after the sweep.
    group = f"train-{sweep.name}"
    for job in jobs:
        record = only(list(job.glob("wandb/offline-run-*/run-*.wandb")))
        assert group.encode() in record.read_bytes(), job


def test_a_sweep_with_a_bad_job_runs_the_others_prints_the_table_and_exits_2(tmp_path):
    out = cli(tmp_path, "-m", "model=gan", "data=ring8", "g_iters=0,2", "trainer=cpu", "logger=csv", *FAST_2D)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "Error executing job" not in out.stderr
    sweep = only(list((tmp_path / "outputs" / "train" / "multiruns").iterdir()))
    rows = {r["job"]: r for r in csv.DictReader(open(sweep / "summary.csv"))}
    assert rows["0"]["status"] == "failed" and rows["1"]["status"] == "finished"  # the job after it still ran
    assert "Sweep summary" in out.stdout and "| 1 |" in out.stdout
    message = "g_iters must be a whole number >= 1 or null, got 0"
    failed = [line for line in out.stderr.splitlines() if line.startswith("failed: ")]
    assert failed == [f"failed: job 0 ({rows['0']['overrides']}): {message}"]
    assert out.stderr.rstrip().endswith("error: 1 of 2 jobs failed")
    assert json.loads(only(list(sweep.glob("0_*/summary.json"))).read_text())["error"] == message


def test_an_unexpected_error_in_a_single_run_exits_1_with_its_traceback(tmp_path):
    """Not a sweep: the error is the run's outcome, so it reaches the console and the exit status
    (the sweep callback once marked it completed, and the command exited 0 in silence)."""
    (tmp_path / "boom.py").write_text(
        "import lightning as L\n\n\nclass Boom(L.Callback):\n"
        "    def on_train_start(self, trainer, pl_module):\n"
        "        raise ZeroDivisionError('a bug at the first step')\n")
    out = cli(tmp_path, "model=gan", "data=ring8", "g_iters=2", "trainer=cpu", "logger=csv", *FAST_2D,
              "+callbacks.boom._target_=boom.Boom", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" in out.stderr and "ZeroDivisionError: a bug at the first step" in out.stderr
    summary = json.loads(only(list((tmp_path / "outputs" / "train" / "runs").glob("*/summary.json"))).read_text())
    assert summary["status"] == "failed" and "a bug at the first step" in summary["error"]


def test_an_unexpected_error_in_a_sweep_job_keeps_its_traceback_in_the_job_dir(tmp_path):
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from ganforge.sweep import SweepSummary

    job_dir = tmp_path / "0_job"
    config = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN, "runtime": {"output_dir": str(job_dir)},
                                         "job": {"num": 0},
                                         "overrides": {"task": ["model=gan"]},
                                         "sweeper": {"_target_": "hydra_plugins.optuna.OptunaSweeper"}}})
    try:
        raise ZeroDivisionError("a bug")
    except ZeroDivisionError as err:
        ret = JobReturn(status=JobStatus.FAILED, _return_value=err)
    SweepSummary().on_job_end(config, ret)
    trace = job_dir / "traceback.txt"
    assert "ZeroDivisionError: a bug" in trace.read_text() and "Traceback" in trace.read_text()
    summary = json.loads((job_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and f"(traceback in {trace})" in summary["error"]
    # Another sweeper (Optuna) keeps its failure policy: the job stays failed, its error one line.
    assert ret.status == JobStatus.FAILED
    assert type(ret._return_value).__name__ == "SweepJobFailed" and str(ret._return_value).startswith("job 0: ")


# ---- Optuna ----------------------------------------------------------------------------------
def test_objective_auto_and_nan_penalty():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"objective": "auto", "objective_penalty": 1e6})
    assert objective_value(cfg, {"val/fid": torch.tensor(12.5), "val/mode_error": 0.1}) == 12.5
    assert objective_value(cfg, {"val/mode_error": torch.tensor(0.25)}) == 0.25
    assert objective_value(cfg, {"val/fid": torch.tensor(float("nan"))}) == 1e6
    assert objective_value(cfg, {"val/fid": float("inf")}) == 1e6
    assert objective_value(OmegaConf.create({"objective": None}), {"val/fid": 1.0}) is None
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="logged neither"):
        objective_value(cfg, {"train/loss_d": 1.0})
    with pytest.raises(GanforgeError, match="objective=val/recall was not logged by this run; logged: train/loss_d"):
        objective_value(OmegaConf.create({"objective": "val/recall"}), {"train/loss_d": 1.0})


def test_slurm_environment_refuses_an_unknown_signal():
    from ganforge.cluster import slurm_environment
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="requeue_signal must be a signal name such as SIGUSR1 or SIGUSR2, "
                                            "got 'USR3'"):
        slurm_environment("USR3")


def test_optuna_search_three_trials_on_ring8_resumes_from_sqlite_and_survives_a_failed_trial(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="extra `sweep` (hydra-optuna-sweeper)")
    import optuna

    base = ["-m", "hparams_search=optuna", "model=gan", "data=ring8", "trainer=cpu", "logger=csv",
            "callbacks.mode_coverage.every_n_g_iters=3", "hydra.sweeper.n_trials=3", *FAST_2D]
    out = cli(tmp_path, *base, "g_iters=6")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Best value" in out.stdout + out.stderr
    storage = f"sqlite:///{tmp_path / 'outputs' / 'optuna' / 'gan_ring8.db'}"
    study = optuna.load_study(study_name="gan_ring8", storage=storage)
    assert len(study.trials) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE and 0.0 <= t.value <= 2.0 for t in study.trials)
    assert {"model.optimizer_g.lr", "model.n_critic", "++model.penalties.r1"} <= set(study.trials[0].params)

    # Same command again: the study continues (3 more trials). g_iters is searched too, and g_iters=0
    # (refused) makes a trial fail: with sampler seed 1 the trials draw 6, 0, 0. The search goes on.
    again = cli(tmp_path, *base, "hydra.sweeper.sampler.seed=1", "+hydra.sweeper.params.g_iters='choice(0,6)'")
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="gan_ring8", storage=storage)
    assert len(study.trials) == 6
    states = [t.state for t in study.trials[3:]]
    assert optuna.trial.TrialState.FAIL in states and optuna.trial.TrialState.COMPLETE in states, states


# ---- SLURM -----------------------------------------------------------------------------------
def test_slurm_launcher_values_reach_submitit(tmp_path, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="extra `slurm` (hydra-submitit-launcher)")
    import submitit
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.utils import instantiate

    cfg = compose_cfg(tmp_path, ["launcher=slurm", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=8",
                                 "hydra.launcher.partition=gpu"], keep_hydra=True)
    assert cfg.trainer.devices == 8 and cfg.trainer.num_nodes == 2
    assert cfg.trainer.strategy == "ddp_find_unused_parameters_true" and cfg.trainer.accelerator == "gpu"
    plugin = instantiate(cfg.trainer.plugins[0])
    assert plugin.auto_requeue and plugin.requeue_signal.name == "SIGUSR2"

    captured: dict[str, str] = {}

    def fake_map_array(self, fn, *iterables):
        captured["sbatch"] = self._executor._make_submission_file_text("python -m submitit.core._submit", "uid")
        captured["num_tasks"] = self._executor._num_tasks()
        return [type("Job", (), {"results": lambda self: [JobReturn(status=JobStatus.COMPLETED)]})()]

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", fake_map_array)
    fake_bin = tmp_path / "bin"  # submitit's SLURM executor looks for srun before it builds anything
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ.get('PATH', '')}")
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=lambda c: None, config=cfg)
    launcher.launch([["model=gan"]], initial_job_idx=0)
    sbatch = captured["sbatch"]
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --partition=gpu", "#SBATCH --signal=USR2@120", "#SBATCH --time=1440",
                 "#SBATCH --cpus-per-task=8"):
        assert line in sbatch, (line, sbatch)
    assert captured["num_tasks"] == 16  # one task per GPU


# ---- seeds -----------------------------------------------------------------------------------
def test_seed_makes_a_cpu_run_reproducible(tmp_path):
    from ganforge.train import run

    def weights(where: str, seed: int) -> dict[str, torch.Tensor]:
        cfg = compose_cfg(tmp_path / where, ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=5",
                                             f"seed={seed}", *FAST_2D])
        run(cfg)
        return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]

    first, again, other = weights("a", 5), weights("b", 5), weights("c", 6)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
