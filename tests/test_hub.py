"""export.py, ganforge.load_generator and sample.py on exported folders: the Hub layout, the same
samples as the checkpoint for a fixed seed, and one-line errors where the Hub cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import CONF, TINY, TINY_NETS, compose_cfg, data_overrides
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import ganforge
from ganforge import export, sample
from ganforge.errors import GanforgeError
from ganforge.models.loading import load_module
from ganforge.train import run


def entry_cfg(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides=overrides)


def trained(tmp_path: Path, data_root: Path, model: str = "cgan", *extra: str) -> Path:
    cfg = compose_cfg(tmp_path, [f"model={model}", *TINY_NETS[model], *data_overrides("mnist", data_root), *TINY,
                                 *extra])
    run(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def test_export_writes_the_hub_layout_and_loads_back_to_the_same_samples(tmp_path, data_root):
    ckpt = trained(tmp_path, data_root, "cgan", "model.ema_decay=0.9")
    out = tmp_path / "exported"
    export.run(entry_cfg("export", [f"ckpt_path={ckpt}", f"out={out}", "grid_size=8"]))
    assert {"model.safetensors", "config.json", "README.md", "samples.png", "ganforge.json"} <= {
        p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["z_dim"] == 100 and config["conditional"] and config["num_classes"] == 10
    card = (out / "README.md").read_text()
    assert "library_name: ganforge" in card and "3 generator iterations" in card and "the EMA generator" in card
    assert "python train.py model=cgan" in card and "Not measured" in card

    module = load_module(ckpt)
    loaded = ganforge.load_generator(out)
    expected = module.sample(6, torch.Generator().manual_seed(3))
    assert torch.equal(loaded.sample(6, torch.Generator().manual_seed(3)), expected)
    ema, weights = module.ema.module.state_dict(), loaded.net.state_dict()
    assert ema.keys() == weights.keys() and all(torch.equal(ema[k], weights[k]) for k in ema)  # EMA, not trained
    # a checkpoint loads through the same function, to the same samples
    assert torch.equal(ganforge.load_generator(ckpt).sample(6, torch.Generator().manual_seed(3)), expected)

    written = sample.run(entry_cfg("sample", [f"ckpt_path={out}", "device=cpu", f"out_dir={tmp_path / 'samples'}",
                                              "num_images=3", "grid_size=4", "interpolation.rows=2"]))
    assert (tmp_path / "samples" / "grid.png") in written and len(list((tmp_path / "samples").glob("class_*"))) == 10


def test_the_card_quotes_the_fid_evaluate_wrote_for_that_checkpoint(tmp_path, data_root):
    ckpt = trained(tmp_path, data_root, "dcgan")
    entry = {"scores": {"fid": 12.345}, "num_samples": 10000, "real": "10000 images of test",
             "features": "Inception (torch-fidelity)"}
    (ckpt.parent / "metrics.json").write_text(json.dumps({"last.ckpt": entry}))
    out = tmp_path / "exported"
    export.run(entry_cfg("export", [f"ckpt_path={ckpt}", f"out={out}", "grid_size=4"]))
    card = (out / "README.md").read_text()
    assert "FID 12.35: 10000 generated images against 10000 images of test" in card
    assert "the trained generator (no EMA)" in card
    assert json.loads((out / "ganforge.json").read_text())["fid"] == pytest.approx(12.345)


def test_push_to_hub_uploads_the_folder_through_huggingface_hub(tmp_path, data_root, monkeypatch):
    from huggingface_hub import HfApi

    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", {"repo": repo_id})))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", kw)))
    ckpt = trained(tmp_path, data_root, "dcgan")
    out = tmp_path / "exported"
    export.run(entry_cfg("export", [f"ckpt_path={ckpt}", f"out={out}", "push_to_hub=someone/fashion-gan"]))
    assert [c[0] for c in calls] == ["create", "upload"]
    assert calls[1][1]["repo_id"] == "someone/fashion-gan" and Path(calls[1][1]["folder_path"]) == out
    assert 'load_generator("someone/fashion-gan")' in (out / "README.md").read_text()


def test_push_to_hub_without_a_reachable_hub_fails_in_one_line_after_the_export(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    ckpt = trained(tmp_path, data_root, "dcgan")
    out = tmp_path / "exported"
    with pytest.raises(GanforgeError, match=r"push_to_hub=someone/repo failed .*the export is complete in") as err:
        export.run(entry_cfg("export", [f"ckpt_path={ckpt}", f"out={out}", "push_to_hub=someone/repo"]))
    assert "\n" not in str(err.value) and (out / "model.safetensors").is_file()


@pytest.mark.parametrize("source, message", [
    ("{folder}", "a folder without config.json: not an exported generator"),
    ("not a repo", "is not a checkpoint file, an exported folder or a Hub repository id"),
    ("someone/missing-repo", "could not load the generator someone/missing-repo: "),
])
def test_load_generator_refuses_what_it_cannot_load_in_one_line(tmp_path, monkeypatch, source, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(GanforgeError, match=message) as err:
        ganforge.load_generator(source.format(folder=tmp_path / "folder"))
    assert "\n" not in str(err.value)


def test_export_refuses_bad_settings_before_loading(tmp_path):
    with pytest.raises(GanforgeError, match="push_to_hub=no-slash is not a Hub repository id"):
        export.run(entry_cfg("export", [f"ckpt_path={tmp_path / 'x.ckpt'}", f"out={tmp_path}", "push_to_hub=no-slash"]))
    with pytest.raises(GanforgeError, match="out is required"):
        export.run(entry_cfg("export", [f"ckpt_path={tmp_path / 'x.ckpt'}"]))
