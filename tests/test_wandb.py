"""What a W&B user sees, read back from offline run records: every chart on the kimg axis, the
headline numbers in the run summary, checkpoints as model artifacts, final sample tables, and
sweep configs that compose into valid runs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml
from conftest import CONF, ROOT, TINY, TINY_NETS, compose_cfg, data_overrides
from omegaconf import OmegaConf
from wandb_records import history_keys, history_values, of_type, read_records, summary

from ganforge.train import run

SWEEPS = sorted((CONF / "wandb_sweeps").glob("*.yaml"))


def offline_run(tmp_path: Path, monkeypatch, model: str, data: str, data_root: Path, *extra: str):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))  # artifact staging
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    cfg = compose_cfg(tmp_path, [f"model={model}", *TINY_NETS[model], *data_overrides(data, data_root), *TINY,
                                 "logger=wandb", *extra])
    run(cfg)
    (record_log,) = Path(cfg.paths.output_dir).glob("wandb/offline-run-*/run-*.wandb")
    return cfg, read_records(record_log)


def models(records: list) -> list:
    return [a for a in of_type(records, "artifact") if a.type == "model"]


def test_wandb_axis_summary_artifacts_and_final_scatter(tmp_path, data_root, monkeypatch):
    cfg, records = offline_run(tmp_path, monkeypatch, "gan", "ring8", data_root, "logger.wandb.log_model=best",
                               "callbacks.mode_coverage.every_n_g_iters=2")
    metrics = of_type(records, "metric")
    assert any(m.name == "progress/kimg" for m in metrics)
    by_glob = {m.glob_name: m.step_metric for m in metrics if m.glob_name}
    assert by_glob["train/*"] == by_glob["val/*"] == by_glob["samples*"] == "progress/kimg"
    assert "*" not in by_glob  # not Lightning's optimizer-step axis
    final = summary(records)
    kimg = 3 * cfg.data.batch_size / 1000  # 3 generator iterations of one critic step each
    assert final["progress/kimg"] == pytest.approx(kimg) and final["progress/g_iters"] == 3
    assert {"val/modes", "val/hq_ratio", "val/mode_error", "train/loss_d"} <= set(final)
    assert final["status"] == "finished"
    assert "samples/final_scatter_table" in history_keys(records)  # the points behind W&B's scatter chart
    (artifact,) = models(records)  # 2-D data: no best_fid.ckpt, only last.ckpt
    assert artifact.type == "model" and artifact.name.startswith("model-")
    assert {"last", "latest"} <= set(artifact.aliases)
    meta = json.loads(artifact.metadata)
    assert meta["kimg"] == pytest.approx(kimg) and meta["g_iters"] == 3 and meta["original_filename"] == "last.ckpt"
    assert meta["config"]["model"]["loss"] == "non_saturating" and meta["status"] == "finished"
    summary_json = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert summary_json["metrics"]["progress/kimg"] == pytest.approx(kimg)


def test_conditional_model_logs_a_table_by_class_and_no_artifact_by_default(tmp_path, data_root, monkeypatch):
    cfg, records = offline_run(tmp_path, monkeypatch, "cgan", "fashion_mnist", data_root, "data.batch_size=20")
    assert not models(records)
    (table_path,) = history_values(records, "samples/by_class", "path")
    (files,) = Path(cfg.paths.output_dir).glob("wandb/offline-run-*/files")
    table = json.loads((files / table_path).read_text())
    assert table["columns"] == ["class", "name", "samples"] and len(table["data"]) == 10
    assert table["data"][9][:2] == [9, "Ankle boot"]  # class names, not only indices
    captions = history_values(records, "samples", "captions")
    assert captions[-1] == ["3 generator iterations, 0.060 kimg"]


def test_best_fid_is_published_with_where_it_was_reached():
    from ganforge.callbacks.evaluation import Evaluation

    callback = Evaluation({"extractor": None}, dirpath="unused")
    assert callback.best() == {}
    callback.load_state_dict({"best_fid": 12.5, "best_at": [40.0, 625]})
    assert callback.best() == {"best/fid": 12.5, "best/fid_kimg": 40.0, "best/fid_g_iters": 625.0}
    callback.load_state_dict({"best_fid": 9.0})  # a checkpoint from before best_at was saved
    assert callback.best()["best/fid"] == 9.0 and callback.best()["best/fid_g_iters"] == -1


def test_diverged_run_reports_the_penalty_as_its_objective(tmp_path, data_root, monkeypatch):
    from ganforge.errors import DivergedError

    with pytest.raises(DivergedError):
        offline_run(tmp_path, monkeypatch, "gan", "ring8", data_root, "objective=val/mode_error",
                    "objective_penalty=1000", "model.optimizer_d.lr=1e30", "model.optimizer_g.lr=1e30",
                    "g_iters=20")
    (record_log,) = (tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb")
    final = summary(read_records(record_log))
    assert final["status"] == "diverged" and final["val/mode_error"] == 1000


# ---- W&B Sweeps ----------------------------------------------------------------------------------
def override_sets(sweep: dict) -> list[list[str]]:
    """Override lists a W&B agent could pass (``${args_no_hyphens}``: ``key=value``): the whole grid
    for grid sweeps, else every listed value and both ends of every range, one parameter at a time."""
    params = sweep["parameters"]
    fixed = [f"{k}={v['value']}" for k, v in params.items() if "value" in v]
    choices = {}
    for key, spec in params.items():
        if "values" in spec:
            choices[key] = spec["values"]
        elif "min" in spec:
            choices[key] = [spec["min"], spec["max"]]
    if sweep["method"] == "grid":
        return [fixed + [f"{k}={v}" for k, v in zip(choices, combo)] for combo in itertools.product(*choices.values())]
    return [fixed + [f"{key}={value}"] for key, values in choices.items() for value in values]


def logged_metric_names() -> set[str]:
    """What runs log as val/*: the image metrics' keys (computed on random features, no weights
    needed) and the 2-D mode metrics'."""
    import torch

    from ganforge.metrics.modes import mode_metrics
    from ganforge.metrics.scoring import metrics_against

    cfg = compose_cfg(Path("/nonexistent"), []).metrics
    real, fake = torch.randn(64, 8), torch.randn(64, 8)
    image_keys = metrics_against(real, cfg).compute(fake, torch.randn(64, 10).softmax(1)).keys()
    means = torch.zeros(2, 2)
    mode_keys = [*mode_metrics(torch.zeros(10, 2), means, 0.1, 3.0).keys(), "mode_error"]
    return {f"val/{k}" for k in (*image_keys, *mode_keys)} | {"best/fid"}


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_wandb_sweep_configs_compose_and_optimise_a_logged_metric(path, tmp_path):
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "train.py" and (ROOT / sweep["program"]).is_file()
    assert "${args_no_hyphens}" in sweep["command"]
    assert sweep["metric"]["name"] in logged_metric_names()
    lower_is_better = sweep["metric"]["name"] not in ("val/precision", "val/recall", "val/is", "val/modes",
                                                      "val/hq_ratio")
    assert sweep["metric"]["goal"] == ("minimize" if lower_is_better else "maximize")
    sets = override_sets(sweep)
    assert sets
    for overrides in sets:
        cfg = compose_cfg(tmp_path, overrides)  # an unknown key or bad value raises here
        assert cfg.get("objective") == sweep["metric"]["name"], "the run must return what the sweep ranks"
        for override in overrides:
            key, value = override.split("=", 1)
            if "." in key:  # a value override: it landed where it names
                node = OmegaConf.select(cfg, key)
                assert str(node).replace(" ", "") == str(value).replace(" ", "") or float(node) == float(value)


def test_there_are_sweeps_for_a_bayesian_search_and_a_grid():
    methods = {yaml.safe_load(p.read_text())["method"] for p in SWEEPS}
    assert {"bayes", "grid"} <= methods
