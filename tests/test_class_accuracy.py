"""Class accuracy of conditional models: the classifier judges real and generated images, is
cached, and is logged for conditional runs only; bad settings stop a run before training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, TINY_NETS, compose_cfg, write_idx
from hydra.utils import instantiate

from ganforge import evaluate
from ganforge.errors import GanforgeError
from ganforge.metrics import classes
from ganforge.metrics.classes import ClassAccuracySettings, judge_for
from ganforge.train import run

pytestmark = pytest.mark.filterwarnings("ignore:Inception Score skipped")
TINY_EVAL = [o for o in TINY if o != "++callbacks.evaluation=null"]


def block_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28 x 28 noise with a bright 7 x 7 block whose place (one of 16) is the label."""
    images = rng.integers(0, 60, (len(labels), 28, 28))
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, 7 * row:7 * row + 7, 7 * col:7 * col + 7] = 255
    return images


def block_generator(labels: torch.Tensor) -> torch.Tensor:
    """A perfect "generator": the block of the requested label, in [-1, 1]."""
    rng = np.random.default_rng(int(labels.sum()))
    return torch.from_numpy(block_images(labels.numpy(), rng)).float().div(127.5).sub(1).unsqueeze(1)


@pytest.fixture
def blocks_root(tmp_path: Path) -> Path:
    """MNIST layout holding the block images: a classifier learns them in seconds."""
    root = tmp_path / "blocks"
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 2000), ("t10k", 200)):
        labels = rng.integers(0, 10, n)
        write_idx(root / "MNIST" / "raw", prefix, block_images(labels, rng), labels)
    return root


def settings_for(tmp_path: Path, **extra) -> ClassAccuracySettings:
    return ClassAccuracySettings(**{"epochs": 3, "width": 8, "cache_dir": str(tmp_path / "classifiers"), **extra})


def blocks_data(tmp_path: Path, root: Path):
    cfg = compose_cfg(tmp_path, ["data=mnist", f"data.root={root}", "data.download=false", "data.resolution=28"])
    return instantiate(cfg.data)


def test_the_judge_passes_right_labels_fails_ignored_ones_and_is_cached(tmp_path, blocks_root, monkeypatch):
    dm = blocks_data(tmp_path, blocks_root)
    settings = settings_for(tmp_path)
    judge = judge_for(dm, settings, torch.device("cpu"), autocast=False)
    assert judge.real_accuracy > 0.95  # on the 200 test images
    right = judge.score(block_generator, per_class=20)
    assert right["class_accuracy"] > 0.95 and right["class_accuracy_real"] == judge.real_accuracy
    always_zero = judge.score(lambda labels: block_generator(torch.zeros_like(labels)), per_class=20)
    assert always_zero["class_accuracy"] == pytest.approx(0.1, abs=0.03)  # only the class-0 requests are right
    # the second judge comes from the cache: no training
    monkeypatch.setattr(classes, "train_classifier", lambda *a, **k: pytest.fail("retrained a cached classifier"))
    again = judge_for(dm, settings, torch.device("cpu"), autocast=False)
    assert again.real_accuracy == judge.real_accuracy
    assert again.score(block_generator, per_class=20) == right
    assert len(list((tmp_path / "classifiers").glob("*.pt"))) == 1


def test_without_a_test_split_a_fixed_share_of_training_images_is_held_out(tmp_path, blocks_root):
    dm = blocks_data(tmp_path, blocks_root)
    dm.reference_splits = ("train",)  # as folder data offers
    judge = judge_for(dm, settings_for(tmp_path, held_out=0.25), torch.device("cpu"), autocast=False)
    assert judge.real_accuracy > 0.9
    saved = torch.load(next((tmp_path / "classifiers").glob("*.pt")), weights_only=True)
    assert saved["meta"]["tested_on"] == 500 and saved["meta"]["trained_on"] == 1500


def train_cfg(tmp_path: Path, root: Path, model: str, *extra: str):
    return compose_cfg(tmp_path, [f"model={model}", *TINY_NETS[model], "data=mnist", f"data.root={root}",
                                  "data.download=false", "data.batch_size=8", *TINY_EVAL, "logger=csv",
                                  "metrics/extractor=random_conv", "metrics.num_samples=20", "metrics.num_real=32",
                                  "metrics.kid_subset_size=8", "metrics.batch_size=8",
                                  f"metrics.cache_dir={tmp_path / 'cache'}", "metrics.class_accuracy.epochs=1",
                                  "metrics.class_accuracy.width=8",
                                  f"metrics.class_accuracy.cache_dir={tmp_path / 'classifiers'}", *extra])


def logged(run_dir: Path) -> list[dict[str, str]]:
    import csv

    return [r for r in csv.DictReader(open(run_dir / "csv" / "metrics.csv")) if r.get("val/fid")]


def test_a_conditional_run_logs_class_accuracy_and_evaluate_reports_it(tmp_path, blocks_root):
    cfg = train_cfg(tmp_path, blocks_root, "cgan")
    run(cfg)
    run_dir = Path(cfg.paths.output_dir)
    (row,) = logged(run_dir)
    assert 0.0 <= float(row["val/class_accuracy"]) <= 1.0 and float(row["val/class_accuracy_real"]) > 0.8
    from omegaconf import OmegaConf

    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    from test_evaluation import eval_cfg

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    scores = evaluate.run(eval_cfg(tmp_path, ckpt, "metrics.class_accuracy.epochs=1", "metrics.class_accuracy.width=8",
                                   f"metrics.class_accuracy.cache_dir={tmp_path / 'classifiers'}",
                                   "metrics.class_accuracy.per_class=3"))
    assert scores["class_accuracy_real"] == pytest.approx(float(row["val/class_accuracy_real"]))
    assert math.isfinite(scores["class_accuracy"])
    saved = json.loads((ckpt.parent / "metrics.json").read_text())["last.ckpt"]["scores"]
    assert saved["class_accuracy"] == pytest.approx(scores["class_accuracy"])


def test_an_unconditional_run_is_not_judged(tmp_path, blocks_root):
    cfg = train_cfg(tmp_path, blocks_root, "dcgan")
    run(cfg)
    (row,) = logged(Path(cfg.paths.output_dir))
    assert not row.get("val/class_accuracy")
    assert not (tmp_path / "classifiers").exists()


@pytest.mark.parametrize(("model", "override", "message"), [
    ("dcgan", "metrics.class_accuracy.enabled=true",
     r"metrics.class_accuracy.enabled=true, but the model is unconditional \(model.conditional=false\)"),
    ("cgan", "metrics.class_accuracy.enabled=maybe", "metrics.class_accuracy.enabled must be auto, true or false"),
    ("cgan", "metrics.class_accuracy.per_class=0", "metrics.class_accuracy.per_class must be at least 1, got 0"),
    ("cgan", "metrics.class_accuracy.held_out=1.5", "metrics.class_accuracy.held_out must be between 0 and 1"),
])
def test_bad_class_accuracy_settings_stop_before_training(tmp_path, blocks_root, model, override, message):
    with pytest.raises(GanforgeError, match=message):
        run(train_cfg(tmp_path, blocks_root, model, override))
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "classifiers").exists()


def test_training_the_classifier_leaves_the_global_rng_alone(tmp_path, blocks_root):
    dm = blocks_data(tmp_path, blocks_root)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    judge_for(dm, settings_for(tmp_path, epochs=1), torch.device("cpu"), autocast=False)
    assert torch.equal(torch.rand(3), expected)
