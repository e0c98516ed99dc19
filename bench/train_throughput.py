"""Training throughput (real images per second) of the GAN loop under precision and memory-format
choices, all measured in the same run against fp32 NCHW as the reference.

Uses the real Trainer, module and data path on random uint8 images of the requested shape, so
the numbers include Lightning's per-step overhead. Usage:
  python bench/train_throughput.py [--model dcgan] [--size 32] [--channels 1] [--batch 64] [--g-iters 300]
      [--set experiment=lucic --set model.n_critic=1 ...]
A model with penalties gets one more row: bf16 with ``model.penalty_precision=autocast``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import compose_cfg  # noqa: E402  (composes conf/ exactly as train.py does)

from ganforge.callbacks.run_length import StopAtGIters  # noqa: E402
from ganforge.data.base import InMemoryDataModule  # noqa: E402
from ganforge.train import build  # noqa: E402


class RandomImages(InMemoryDataModule):
    def __init__(self, shape: tuple[int, int, int], batch_size: int, n: int = 8192) -> None:
        super().__init__(shape, 0, batch_size, seed=0)
        self.n = n

    def load(self):
        return torch.randint(0, 256, (self.n, *self.sample_shape), dtype=torch.uint8), torch.zeros(self.n).long()


class Timer(L.Callback):
    """Images/s over the iterations after a warm-up (compilation, cuDNN autotuning)."""

    def __init__(self, warmup_g_iters: int) -> None:
        self.warmup, self.start = warmup_g_iters, None

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if self.start is None and pl_module.g_iters >= self.warmup:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start = (time.perf_counter(), pl_module.images_seen)

    def on_train_end(self, trainer, pl_module) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.rate = (pl_module.images_seen - self.start[1]) / (time.perf_counter() - self.start[0])


def compose(args, tmp: Path, *overrides: str):
    return compose_cfg(tmp, [f"model={args.model}", "logger=none", "callbacks=none", f"g_iters={args.g_iters}",
                             *args.set, *overrides])


def measure(args, precision: str, channels_last: bool, compile_nets: bool, tmp: Path, extra: tuple[str, ...] = ()
            ) -> float:
    cfg = compose(args, tmp, f"model.channels_last={channels_last}", f"model.compile={compile_nets}",
                  f"model.reuse_fake={precision.endswith('+reuse')}", *extra)
    dm = RandomImages((args.channels, args.size, args.size), args.batch)
    model = build(cfg.model, "model", sample_shape=list(dm.sample_shape), num_classes=0)
    timer = Timer(warmup_g_iters=max(20, args.g_iters // 5))
    trainer = L.Trainer(accelerator="auto", devices=1, precision=precision.removesuffix("+reuse"),
                        max_steps=cfg.trainer.max_steps,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[timer, StopAtGIters(args.g_iters)])
    trainer.fit(model, datamodule=dm)
    return timer.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--g-iters", type=int, default=300)
    parser.add_argument("--compile", action="store_true",
                        help="also measure the last row with torch.compile of the nets and fused Adam")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every row (repeatable), e.g. experiment=lucic")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "ganforge-bench"
    cuda = torch.cuda.is_available()
    variants = [("32-true", False, False, ()), ("bf16-mixed", False, False, ()), ("bf16-mixed+reuse", False, False, ())]
    if compose(args, tmp).model.get("penalties"):
        variants.append(("bf16-mixed+reuse", False, False, ("model.penalty_precision=autocast",)))
    if cuda:
        variants += [("32-true", True, False, ()), ("bf16-mixed", True, False, ())]
    if args.compile:  # the last row again, compiled, with fused Adam (as the compiled presets train)
        precision, _, _, extra = variants[-1]
        variants.append((precision, False, True, (*extra, "++model.optimizer_g.fused=true",
                                                  "++model.optimizer_d.fused=true")))
    device = torch.cuda.get_device_name() if cuda else f"CPU ({os.cpu_count()} cores)"
    print(f"{args.model} {' '.join(args.set)} {args.channels}x{args.size}x{args.size}, batch {args.batch}, on {device}")
    reference = None
    for precision, channels_last, compile_nets, extra in variants:
        rate = measure(args, precision, channels_last, compile_nets, tmp, extra)
        reference = reference or rate
        name = (f"{precision}{' channels_last' if channels_last else ''}{' compiled, fused' if compile_nets else ''}"
                f"{' penalty autocast' if 'model.penalty_precision=autocast' in extra else ''}")
        print(f"{name:36s} {rate:10.0f} img/s   ratio vs fp32 NCHW = {rate / reference:.2f}")


if __name__ == "__main__":
    main()
