"""Ctrl-C and SIGTERM end a run the way its length does: at the end of the next generator
iteration, with ``last.ckpt`` saved and no end-of-run evaluation, so ``train.py`` can record it as
interrupted and print the command that resumes it. A second Ctrl-C stops at once, within an
iteration (``save_on_exception`` then writes ``last.ckpt`` as the run stands).
Before training starts a signal stops the run at once: there is nothing to save yet."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType

import lightning as L

from ganforge.lightning_internals import requeues_on_slurm, set_step_limit

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal(L.Callback):
    """Handles SIGINT and SIGTERM for the duration of ``handling()``. ``signum`` is the first
    signal received (None: none), ``stopped_at`` the generator iteration the run stopped after."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.stopped_at: int | None = None
        self._training = False
        self._g_at_batch_start = 0

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        previous = {s: signal.getsignal(s) for s in SIGNALS}
        try:
            for s in SIGNALS:
                signal.signal(s, self._on_signal)
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None or not self._training:
            self.signum = self.signum or signum
            raise KeyboardInterrupt  # the second signal, or nothing to save yet: stop now
        self.signum = signum
        # Only async-signal-safe output here: the progress bar may hold the console's lock.
        os.write(2, f"\n{signal.Signals(signum).name}: stopping after this generator iteration and saving "
                    "last.ckpt (Ctrl-C again stops at once)\n".encode())

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning has just put its own SIGTERM handler in place (it only acts at an epoch's end);
        # SLURM's requeue keeps Lightning's handling as it is.
        if not requeues_on_slurm(trainer):
            signal.signal(signal.SIGTERM, self._on_signal)
        self._training = True

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._g_at_batch_start = pl_module.g_iters

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.signum is not None and self.stopped_at is None and pl_module.g_iters != self._g_at_batch_start:
            self.stopped_at = pl_module.g_iters
            set_step_limit(trainer, trainer.global_step)  # ends as g_iters does: exactly resumable

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._training = False


def interrupted(trainer: L.Trainer) -> bool:
    """Whether this run is ending because of a signal (end-of-run evaluations are skipped then)."""
    return any(isinstance(cb, StopOnSignal) and cb.signum is not None for cb in trainer.callbacks)
