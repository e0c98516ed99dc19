"""The evaluation callback during training, evaluate.py and sample.py on checkpoints of tiny runs.
A tiny seeded random conv net stands in for Inception (no weights needed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY, TINY_NETS, compose_cfg, data_overrides
from omegaconf import open_dict

from ganforge import evaluate, sample
from ganforge.errors import GanforgeError
from ganforge.train import run

pytestmark = pytest.mark.filterwarnings("ignore:Inception Score skipped")
TINY_EVAL = [o for o in TINY if o != "++callbacks.evaluation=null"]


def metric_overrides(tmp_path: Path) -> list[str]:
    return ["metrics/extractor=random_conv", "metrics.num_samples=16", "metrics.num_real=32",
            "metrics.kid_subset_size=8", "metrics.batch_size=8", f"metrics.cache_dir={tmp_path / 'cache'}",
            f"metrics.class_accuracy.cache_dir={tmp_path / 'classifiers'}"]


def train_with_metrics(tmp_path: Path, data_root: Path, model: str = "dcgan", *extra: str):
    cfg = compose_cfg(tmp_path, [f"model={model}", *TINY_NETS[model], *data_overrides("mnist", data_root),
                                 *TINY_EVAL, "logger=csv", *metric_overrides(tmp_path), *extra])
    run(cfg)
    return cfg


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    import csv

    return list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))


def test_training_logs_image_metrics_every_n_kimg_and_keeps_the_best_fid_checkpoint(tmp_path, data_root):
    # batch 8: 0.008 kimg per discriminator step; every 0.016 kimg = every 2 generator iterations of 3
    cfg = train_with_metrics(tmp_path, data_root, "dcgan", "callbacks.evaluation.every_kimg=0.016")
    run_dir = Path(cfg.paths.output_dir)
    rows = [r for r in csv_rows(run_dir) if r.get("val/fid")]
    assert [float(r["progress/g_iters"]) for r in rows] == [2.0, 3.0]  # every 0.016 kimg, and at the end
    for row in rows:
        for key in ("val/fid", "val/kid", "val/precision", "val/recall", "val/is"):
            assert math.isfinite(float(row[key])), key
    best = torch.load(run_dir / "checkpoints" / "best_fid.ckpt", weights_only=False)
    fids = {float(r["progress/g_iters"]): float(r["val/fid"]) for r in rows}
    assert best["counters"]["g_iters"] == min(fids, key=fids.get)
    (state,) = [v for k, v in best["callbacks"].items() if k.startswith("Evaluation")]
    assert state["best_fid"] == pytest.approx(min(fids.values()))
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1  # real statistics cached once, reused


def test_resume_restores_the_evaluation_state_and_brings_the_best_checkpoint(tmp_path, data_root):
    every = "callbacks.evaluation.every_kimg=0.016"  # every 2 generator iterations, and at the end
    first = train_with_metrics(tmp_path / "first", data_root, "dcgan", every)
    first_dir = Path(first.paths.output_dir)
    resumed = train_with_metrics(tmp_path / "resumed", data_root, "dcgan", every, "g_iters=5",
                                 f"ckpt_path={first_dir / 'checkpoints' / 'last.ckpt'}")
    resumed_dir = Path(resumed.paths.output_dir)
    fids = {float(r["progress/g_iters"]): float(r["val/fid"]) for d in (first_dir, resumed_dir)
            for r in csv_rows(d) if r.get("val/fid")}
    assert sorted(fids) == [2.0, 3.0, 4.0, 5.0]  # the schedule goes on (next evaluation restored)
    last = torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=False)
    (state,) = [v for k, v in last["callbacks"].items() if k.startswith("Evaluation")]
    assert state["best_fid"] == pytest.approx(min(fids.values()))  # over both runs, not the second only
    assert state["last_images_seen"] == last["counters"]["images_seen"]
    best = torch.load(resumed_dir / "checkpoints" / "best_fid.ckpt", weights_only=False)
    assert best["counters"]["g_iters"] == min(fids, key=fids.get)


def test_evaluating_does_not_change_the_training_trajectory(tmp_path, data_root):
    with_eval = train_with_metrics(tmp_path / "a", data_root, "cgan", "callbacks.evaluation.every_kimg=0.008")
    without = train_with_metrics(tmp_path / "b", data_root, "cgan", "callbacks.evaluation=null")
    a = torch.load(Path(with_eval.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(Path(without.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_missing_weights_required_stops_before_training(tmp_path, data_root):
    with pytest.raises(GanforgeError, match=r"inception_weights=.*does not exist \(metrics.required=true\)"):
        train_with_metrics(tmp_path, data_root, "dcgan", "metrics/extractor=inception", "metrics.required=true",
                           f"metrics.inception_weights={tmp_path / 'none.pth'}")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_missing_weights_not_required_trains_with_one_warning(tmp_path, data_root):
    with pytest.warns(UserWarning, match="image metrics .* are skipped"):
        cfg = train_with_metrics(tmp_path, data_root, "dcgan", "metrics/extractor=inception",
                                 f"metrics.inception_weights={tmp_path / 'none.pth'}")
    rows = csv_rows(Path(cfg.paths.output_dir))
    assert rows and not any(r.get("val/fid") for r in rows)


@pytest.mark.parametrize(("override", "message"), [
    ("metrics.num_samples=1", r"metrics.num_samples must be at least 2 \(or null for the device's default\), got 1"),
    ("metrics.num_real=0", r"metrics.num_real must be at least 2 \(or null for the device's default\), got 0"),
    ("callbacks.evaluation.every_kimg=0", r"callbacks.evaluation.every_kimg must be positive or null, got 0"),
])
def test_bad_metric_settings_are_refused_before_training(tmp_path, data_root, override, message):
    with pytest.raises(GanforgeError, match=message):
        train_with_metrics(tmp_path, data_root, "dcgan", override)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_split_the_set_lacks_is_refused_before_training(tmp_path, data_root):
    with pytest.raises(GanforgeError, match="offers metrics.real_split=train, got 'test'"):
        cfg = compose_cfg(tmp_path, ["model=dcgan", *TINY_NETS["dcgan"], *data_overrides("image_folder", data_root),
                                     *TINY_EVAL, *metric_overrides(tmp_path), "metrics.real_split=test"])
        run(cfg)


def eval_cfg(tmp_path: Path, ckpt: Path, *extra: str):
    cfg = compose_cfg(tmp_path, [])  # for paths; then the eval entry config itself
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        ecfg = compose("eval", overrides=[f"ckpt_path={ckpt}", "device=cpu", f"paths.root_dir={tmp_path}",
                                          *metric_overrides(tmp_path), *extra])
    with open_dict(ecfg):
        ecfg.paths = cfg.paths
    return ecfg


def test_evaluate_scores_a_checkpoint_and_writes_metrics_json(tmp_path, data_root, capsys):
    train_cfg = train_with_metrics(tmp_path, data_root, "dcgan", "callbacks.evaluation=null")
    run_dir = Path(train_cfg.paths.output_dir)
    # the training run's config is where evaluate.py finds the dataset
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    from omegaconf import OmegaConf

    OmegaConf.save(train_cfg, run_dir / ".hydra" / "config.yaml")
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    scores = evaluate.run(eval_cfg(tmp_path, ckpt))
    printed = capsys.readouterr().out
    assert "fid" in printed and "3 generator iterations" in printed and "16 images" in printed
    assert "random_conv features: NOT comparable with published FID" in printed  # never quoted as an FID
    saved = json.loads((ckpt.parent / "metrics.json").read_text())
    assert saved["last.ckpt"]["scores"]["fid"] == pytest.approx(scores["fid"])
    assert saved["last.ckpt"]["split"] == "test" and saved["last.ckpt"]["num_real"] == 32
    assert saved["last.ckpt"]["resize_filter"] is None  # a torchvision set: no resize filter to record
    # the same seed gives the same numbers; another checkpoint adds its own entry
    again = evaluate.run(eval_cfg(tmp_path, ckpt))
    assert again["fid"] == pytest.approx(scores["fid"])
    other = ckpt.parent / "g0000002.ckpt"
    evaluate.run(eval_cfg(tmp_path, other))
    assert set(json.loads((ckpt.parent / "metrics.json").read_text())) == {"last.ckpt", "g0000002.ckpt"}


def test_evaluate_without_run_config_asks_for_the_dataset(tmp_path, data_root):
    train_cfg = train_with_metrics(tmp_path, data_root, "dcgan", "callbacks.evaluation=null")
    ckpt = Path(train_cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(GanforgeError, match="name the dataset, e.g. data=fashion_mnist"):
        evaluate.run(eval_cfg(tmp_path, ckpt))
    scores = evaluate.run(eval_cfg(tmp_path, ckpt, "data=mnist", f"data.root={data_root}", "data.download=false"))
    assert math.isfinite(scores["fid"])
    with pytest.raises(GanforgeError, match=r"generates \(1, 32, 32\) samples but the data gives \(1, 64, 64\)"):
        evaluate.run(eval_cfg(tmp_path, ckpt, "data=mnist", f"data.root={data_root}", "data.download=false",
                              "data.resolution=64", "data.fit=resize"))


def test_sample_writes_grid_files_interpolation_and_class_grids(tmp_path, data_root):
    train_cfg = train_with_metrics(tmp_path, data_root, "cgan", "callbacks.evaluation=null")
    ckpt = Path(train_cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("sample", overrides=[f"ckpt_path={ckpt}", "device=cpu", f"out_dir={tmp_path / 'out'}",
                                           "num_images=5", "grid_size=10", "interpolation.rows=3",
                                           "interpolation.steps=4"])
    sample.run(cfg)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images").glob("*.png")) == [f"{i:06d}.png" for i in range(5)]
    from torchvision.io import read_image

    assert read_image(str(out / "images" / "000000.png")).shape == (1, 32, 32)
    # interpolation: 3 rows x 4 columns of 32 px images with 2 px padding
    assert read_image(str(out / "interpolation.png")).shape[1:] == (3 * 34 + 2, 4 * 34 + 2)
    assert sorted(p.name for p in out.glob("class_*.png")) == [f"class_{k:02d}.png" for k in range(10)]
    assert (out / "grid.png").is_file()


def test_slerp_keeps_endpoints_and_norm():
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    assert torch.allclose(sample.slerp(a, b, torch.tensor(0.0)), a, atol=1e-5)
    assert torch.allclose(sample.slerp(a, b, torch.tensor(1.0)), b, atol=1e-5)
    unit_a, unit_b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    mid = sample.slerp(unit_a, unit_b, torch.tensor(0.5))
    assert torch.allclose(mid.norm(dim=1), torch.ones(4), atol=1e-5)


def _script(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    env = {"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin", "GANFORGE_ROOT": str(tmp_path),
           "GANFORGE_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True, text=True,
                          timeout=180, env=env, cwd=tmp_path)


def test_cli_evaluate_and_sample_on_a_bad_checkpoint_fail_with_one_message(tmp_path):
    for script in ("evaluate.py", "sample.py"):
        out = _script(tmp_path, script, f"ckpt_path={tmp_path / 'missing.ckpt'}")
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("error: ckpt_path=") and "Traceback" not in out.stderr
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    out = _script(tmp_path, "evaluate.py", f"ckpt_path={tmp_path / 'junk.ckpt'}")
    assert out.returncode == 2 and "is not a checkpoint (not a PyTorch zip file)" in out.stderr


DDP_SCRIPT = '''
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import TINY, TINY_NETS, compose_cfg, data_overrides
from ganforge.train import run

def main():
    tiny = [o for o in TINY if o != "++callbacks.evaluation=null"]
    cfg = compose_cfg(Path({tmp!r}), ["model=dcgan", *TINY_NETS["dcgan"], *data_overrides("mnist", Path({data!r})),
        *tiny,
        "+trainer.strategy=ddp_spawn_find_unused_parameters_true", "trainer.devices=2", "logger=csv",
        "metrics/extractor=random_conv", "metrics.num_samples=15", "metrics.num_real=32", "metrics.kid_subset_size=8",
        "metrics.batch_size=4", "metrics.cache_dir={tmp}/cache", "callbacks.evaluation.every_kimg=0.016"])
    run(cfg)

if __name__ == "__main__":
    main()
'''


@pytest.mark.slow
def test_evaluation_under_two_process_ddp_gathers_every_rank(tmp_path, data_root):
    """2 CPU processes (gloo): each rank generates its share, features are gathered, every rank
    computes the same numbers and reaches the best-checkpoint collective without a hang."""
    script = tmp_path / "ddp_eval.py"
    script.write_text(DDP_SCRIPT.format(tests=str(ROOT / "tests"), tmp=str(tmp_path), data=str(data_root)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [r for r in csv_rows(tmp_path / "run") if r.get("val/fid")]
    # batch 8 per rank: 16 images per generator iteration, so every iteration crosses 0.016 kimg
    assert [float(r["progress/g_iters"]) for r in rows] == [1.0, 2.0, 3.0]
    assert all(math.isfinite(float(r["val/fid"])) for r in rows)
    assert (tmp_path / "run" / "checkpoints" / "best_fid.ckpt").is_file()


def test_sample_on_a_2d_model_writes_points_and_scatter(tmp_path, data_root):
    cfg = compose_cfg(tmp_path, ["model=gan", *TINY_NETS["gan"], *data_overrides("ring8", data_root), *TINY])
    run(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        scfg = compose("sample", overrides=[f"ckpt_path={ckpt}", "device=cpu"])
    written = sample.run(scfg)
    out = Path(cfg.paths.output_dir) / "generated" / "last"
    assert written == [out / "points.csv", out / "scatter.png"]
    lines = (out / "points.csv").read_text().splitlines()
    assert lines[0] == "x,y" and len(lines) == 2001
    with pytest.raises(GanforgeError, match="evaluate.py scores image models"):
        evaluate.run(eval_cfg(tmp_path, ckpt))


def test_real_statistics_wait_for_the_first_evaluation(tmp_path, data_root):
    """Nothing slow runs before the first training step: the first sample grid is written before
    the real statistics are computed (at the first evaluation, here the end of the run)."""
    cfg = train_with_metrics(tmp_path, data_root, "dcgan", "callbacks.evaluation.every_kimg=null")
    (cache,) = (tmp_path / "cache").glob("*.pt")
    first_grid = Path(cfg.paths.output_dir) / "samples" / "g0000001.png"
    assert first_grid.stat().st_mtime_ns < cache.stat().st_mtime_ns
    assert [float(r["progress/g_iters"]) for r in csv_rows(Path(cfg.paths.output_dir)) if r.get("val/fid")] == [3.0]
