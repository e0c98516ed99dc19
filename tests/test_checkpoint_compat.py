"""Checkpoints written by earlier versions still load and resume: settings renamed since
(``clip_weights`` -> ``clip_value``), settings dropped (SRGAN's ``n_critic``), counters added
(``critic_steps``), classes that moved (``checkpoints.CLASS_ALIASES``)."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import TINY, TINY_NETS, compose_cfg, data_overrides
from test_sr import TINY_SR, make_photos

from ganforge.models import checkpoints
from ganforge.models.loading import load_module
from ganforge.train import run


def as_written_before(path: Path, out: Path, hparams: dict, drop_hparams: tuple[str, ...] = (),
                      ganforge_class: str | None = None, critic_steps_saved: bool = True) -> Path:
    """The checkpoint at ``path`` as an earlier version wrote it (SRGAN's had no critic_steps counter)."""
    ckpt = torch.load(path, weights_only=True)
    for key in drop_hparams:
        del ckpt["hyper_parameters"][key]
    ckpt["hyper_parameters"].update(hparams)
    if not critic_steps_saved:
        ckpt["counters"].pop("critic_steps")
    if ganforge_class:
        ckpt["ganforge_class"] = ganforge_class
    torch.save(ckpt, out)
    return out


def test_a_wgan_checkpoint_with_clip_weights_loads_and_resumes(tmp_path, data_root):
    overrides = ["model=wgan", *data_overrides("mnist", data_root), *TINY, *TINY_NETS["wgan"]]
    cfg = compose_cfg(tmp_path / "a", overrides)
    run(cfg)
    old = as_written_before(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", tmp_path / "old.ckpt",
                            {"clip_weights": 0.01}, drop_hparams=("clip_value",))
    module = load_module(old)
    assert module.clip_value == 0.01 and module.g_iters == 3 and module.critic_steps == 0
    resumed = compose_cfg(tmp_path / "b", [*overrides, "g_iters=5", f"ckpt_path={old}"])
    run(resumed)
    last = torch.load(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["counters"]["g_iters"] == 5 and last["hyper_parameters"]["clip_value"] == 0.01


def test_an_srresnet_checkpoint_with_n_critic_and_a_moved_class_loads(tmp_path, monkeypatch):
    photos = make_photos(tmp_path / "photos")
    cfg = compose_cfg(tmp_path, ["model=srresnet", "data=sr_folder", f"data.root={photos}", *TINY, *TINY_SR])
    run(cfg)
    monkeypatch.setitem(checkpoints.CLASS_ALIASES, "ganforge.models.old_place.SRGAN", "ganforge.models.srgan.SRGAN")
    old = as_written_before(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", tmp_path / "old.ckpt",
                            {"n_critic": 0}, ganforge_class="ganforge.models.old_place.SRGAN",
                            critic_steps_saved=False)
    module = load_module(old)
    assert type(module).__name__ == "SRGAN" and module.g_iters == 3 and "n_critic" not in module.hparams
    assert module.critic_steps == 0
