"""The automatic precision: bf16 mixed precision on CPUs that run bf16 natively (PyTorch/oneDNN's
report confirmed by the kernel's ISA flags, never by CPU name), fp32 elsewhere; said in the log; trainer.precision wins;
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


def test_the_automatic_choice_matches_this_machines_onednn_and_flags(tmp_path):
    reported = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    flags = config.cpu_isa_flags()
    native = reported and (flags is None or bool(flags & config.NATIVE_BF16_FLAGS))
    assert config.cpu_has_native_bf16() == native
    cfg = compose_cfg(tmp_path, ["trainer=cpu"])
    assert cfg.trainer.precision == ("bf16-mixed" if native else "32-true")


@pytest.mark.parametrize(("flags", "native"), [
    (frozenset({"avx2", "avx512f", "avx512bw", "avx512_vnni"}), False),  # AVX512 without bf16: emulated
    (frozenset({"avx512f", "avx512_bf16"}), True),
    (frozenset({"avx512f", "amx_tile", "amx_bf16"}), True),
    (frozenset({"fp", "asimd", "bf16"}), True),  # Arm
    (None, True),  # no /proc/cpuinfo: PyTorch's report alone
])
def test_avx512_without_bf16_instructions_is_not_native(monkeypatch, flags, native):
    """PyTorch reports bf16 on every AVX512 CPU; where the kernel lists no bf16 instructions it is
    emulated and slower than fp32 (seen on a virtual machine that hides AMX and AVX512-BF16)."""
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(config, "cpu_isa_flags", lambda: flags)
    assert config.cpu_has_native_bf16() is native


def test_isa_flags_are_read_from_the_x86_and_arm_lines(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx512f avx512_bf16\n\n"
                   "processor\t: 1\nflags\t\t: fpu avx512f avx512_bf16\n")
    assert config.cpu_isa_flags(x86) == {"fpu", "avx512f", "avx512_bf16"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\nCPU implementer\t: 0x41\n")
    assert config.cpu_isa_flags(arm) == {"fp", "asimd", "bf16", "i8mm"}
    assert config.cpu_isa_flags(tmp_path / "absent") is None
    no_flags = tmp_path / "none"
    no_flags.write_text("processor\t: 0\n")
    assert config.cpu_isa_flags(no_flags) is None


def test_the_log_says_which_precision_and_why(tmp_path, caplog):
    automatic = config.auto_precision("cpu")
    other = "bf16-mixed" if automatic == "32-true" else "32-true"  # what the config sets: not the automatic choice
    assert precision_note(automatic, "cpu").startswith(f"{automatic} (automatic: ")
    assert "set by trainer.precision" in precision_note("64-true", "cpu")
    with caplog.at_level(logging.INFO, logger="ganforge.train"):
        run(compose_cfg(tmp_path, ["model=gan", "data=ring8", "trainer=cpu", "logger=none", "g_iters=1",
                                   "callbacks=none", f"trainer.precision={other}"]))
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("precision ")]
    assert line.startswith(f"precision {other} (set by trainer.precision; the automatic choice would be {automatic}")


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
