"""The automatic precision: bf16 mixed precision on CPUs that run bf16 natively (asked of
PyTorch/oneDNN, never by CPU name), fp32 elsewhere; said in the log; trainer.precision wins;
evaluation generates under the training precision and scores fp32 features."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import compose_cfg

import ganforge.config as config
from ganforge.metrics.images import ImageMetrics
from ganforge.metrics.scoring import score_generator
from ganforge.train import precision_note, run


def test_cpu_precision_follows_what_onednn_reports(monkeypatch):
    monkeypatch.setattr(config, "cpu_has_native_bf16", lambda: True)
    assert config.precision_choice("cpu")[0] == "bf16-mixed"
    monkeypatch.setattr(config, "cpu_has_native_bf16", lambda: False)
    precision, reason = config.precision_choice("cpu")
    assert precision == "32-true" and "no native bf16" in reason
    assert config.auto_precision("cpu") == "32-true"


def test_the_automatic_choice_matches_this_machines_onednn(tmp_path):
    native = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert config.cpu_has_native_bf16() == native
    cfg = compose_cfg(tmp_path, ["trainer=cpu"])
    assert cfg.trainer.precision == ("bf16-mixed" if native else "32-true")


def test_the_log_says_which_precision_and_why(tmp_path, caplog):
    automatic = config.auto_precision("cpu")
    assert precision_note(automatic, "cpu").startswith(f"{automatic} (automatic: ")
    assert "set by trainer.precision" in precision_note("64-true", "cpu")
    with caplog.at_level(logging.INFO, logger="ganforge.train"):
        run(compose_cfg(tmp_path, ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=1",
                                   "callbacks=none", "trainer.precision=32-true"]))
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("precision ")]
    assert line.startswith("precision 32-true (set by trainer.precision; the automatic choice would be ")


@pytest.mark.parametrize(("precision", "autocast"), [("bf16-mixed", True), ("32-true", False)])
def test_evaluation_generates_under_the_training_precision_with_fp32_features(precision, autocast):
    seen = []

    def sample(n: int) -> torch.Tensor:
        seen.append(torch.is_autocast_enabled("cpu"))
        return torch.rand(n, 3, 8, 8).to(torch.bfloat16) * 2 - 1

    class Features(torch.nn.Module):
        def forward(self, images):
            assert not torch.is_autocast_enabled("cpu") and images.dtype == torch.float32
            return images.flatten(1)[:, :4].float(), None

    reference = ImageMetrics(torch.randn(20, 4))
    scores = score_generator(sample, 10, reference, Features(), 4, "cpu", precision=precision)
    assert seen == [autocast] * 3 and "fid" in scores
