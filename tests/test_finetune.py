"""init_from (a new run from trained weights) and model.freeze_d_layers (FreezeD)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from conftest import TINY, TINY_NETS, compose_cfg, data_overrides
from test_hub import entry_cfg

from ganforge import export
from ganforge.errors import GanforgeError
from ganforge.files import open_checkpoint
from ganforge.train import run

BASE = ["model=dcgan", *TINY_NETS["dcgan"], *TINY]


def train(tmp_path: Path, data_root: Path, name: str, *extra: str) -> Path:
    cfg = compose_cfg(tmp_path / name, [*BASE, *data_overrides("mnist", data_root), *extra])
    run(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def weights(ckpt: Path, prefix: str) -> dict[str, torch.Tensor]:
    state = open_checkpoint(ckpt)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def test_init_from_starts_a_new_run_from_the_weights_with_new_settings(tmp_path, data_root, caplog):
    caplog.set_level(logging.INFO, logger="ganforge")
    source = train(tmp_path, data_root, "source")
    # another learning rate and length: refused by ckpt_path, taken by init_from
    tuned = train(tmp_path, data_root, "tuned", f"init_from={source}", "model.optimizer_g.lr=1e-5",
                  "model.optimizer_d.lr=1e-5", "g_iters=1", "model.ema_decay=0.99")
    assert "init_from" in caplog.text and "generator, discriminator loaded" in caplog.text
    assert open_checkpoint(tuned)["counters"]["g_iters"] == 1  # counted afresh
    before, after = weights(source, "generator."), weights(tuned, "generator.")
    # one small step away from the source's weights, far from a fresh initialisation's
    fresh = weights(train(tmp_path, data_root, "fresh", "g_iters=1"), "generator.")
    learned = [k for k in before if k.endswith(("weight", "bias"))]  # not BatchNorm's running statistics
    moved = sum((after[k] - before[k]).abs().sum() for k in learned)
    apart = sum((fresh[k] - before[k]).abs().sum() for k in learned)
    assert moved < 0.05 * apart
    # the EMA the source lacked started from the loaded generator
    ema = weights(tuned, "ema.module.")
    key = next(k for k in before if k.endswith("weight"))
    assert (ema["ema.module." + key[len("generator."):]] - before[key]).abs().max() < 0.05


def test_a_net_of_another_shape_is_refused_in_one_line_naming_the_layer(tmp_path, data_root):
    source = train(tmp_path, data_root, "source")
    cfg = compose_cfg(tmp_path / "wide", [*BASE, *data_overrides("mnist", data_root), f"init_from={source}",
                                          "model.generator.base_width=16"])
    with pytest.raises(GanforgeError, match=r"init_from=.*: generator\.\S+ has shape \(\d+(, \d+)*\) there and "
                                            r"\(\d+(, \d+)*\) in this model") as err:
        run(cfg)
    assert "\n" not in str(err.value)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # nothing trained


def test_init_from_an_exported_generator_loads_the_generator_alone(tmp_path, data_root, caplog):
    caplog.set_level(logging.INFO, logger="ganforge")
    source = train(tmp_path, data_root, "source")
    folder = tmp_path / "exported"
    export.run(entry_cfg("export", [f"ckpt_path={source}", f"out={folder}", "grid_size=4"]))
    tuned = train(tmp_path, data_root, "tuned", f"init_from={folder}", "g_iters=1", "model.optimizer_g.lr=0")
    assert "generator loaded (an exported generator in the source)" in caplog.text
    before, after = weights(source, "generator."), weights(tuned, "generator.")
    floats = [k for k in before if before[k].is_floating_point() and "running" not in k]
    assert all(torch.equal(before[k], after[k]) for k in floats)  # lr 0: the exported weights, unchanged


def test_freeze_d_layers_keeps_the_first_discriminator_layers(tmp_path, data_root):
    source = train(tmp_path, data_root, "source")
    tuned = train(tmp_path, data_root, "tuned", f"init_from={source}", "model.freeze_d_layers=1")
    before, after = weights(source, "discriminator."), weights(tuned, "discriminator.")
    convs = [k for k in before if k.endswith("weight") and before[k].ndim == 4]
    assert torch.equal(before[convs[0]], after[convs[0]])  # frozen
    assert not torch.equal(before[convs[1]], after[convs[1]])  # trained on


def test_freezing_every_discriminator_layer_is_refused(tmp_path, data_root):
    cfg = compose_cfg(tmp_path, [*BASE, *data_overrides("mnist", data_root), "model.freeze_d_layers=50"])
    with pytest.raises(GanforgeError, match=r"model.freeze_d_layers=50 but the discriminator has \d+ "
                                            r"convolution/linear layers; freeze at most \d+"):
        run(cfg)


def test_init_from_what_is_not_a_model_is_one_line(tmp_path, data_root):
    cfg = compose_cfg(tmp_path, [*BASE, *data_overrides("mnist", data_root), f"init_from={tmp_path / 'none'}"])
    with pytest.raises(GanforgeError, match="init_from=.*is not a checkpoint file, an exported folder"):
        run(cfg)
