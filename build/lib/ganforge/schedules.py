"""Schedules by generator iteration, as pure functions and picklable classes: the cadence of
everything done "every N generator iterations (or kimg), and at the end", the critic's steps per
generator iteration (with WGAN's warm-up) and the critic steps a run takes, and learning-rate
factors. Imports nothing of ganforge but its errors, so callbacks, models and configs share them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ganforge.errors import GanforgeError


class Cadence:
    """Every ``every`` units of a counter that only grows (generator iterations, kimg): due once
    when the counter reaches each multiple (and at ``first``, when set), due at the end unless it
    was done at that value already, and never twice at one value (a generator iteration spans
    several batches when the critic takes several steps). ``every`` None: never due but at the end.
    The caller says ``done(value)`` when it acted."""

    def __init__(self, every: float | None, key: str, first: float | None = None) -> None:
        if every is not None and not every > 0:
            raise GanforgeError(f"{key} must be positive or null, got {every}")
        self.every, self.first = every, first
        self.next: float | None = None if every is None else (first if first is not None else every)
        self.last: float | None = None

    def start(self, value: float, done: bool = False) -> None:
        """A run (re)starting at ``value``: the next multiple above it (``first`` only from before
        it); ``done``: what the value holds counts as done (a resumed run's checkpoint)."""
        if self.every is not None:
            self.next = self.first if self.first is not None and value < self.first else self.after(value)
        if done:
            self.last = value

    def after(self, value: float) -> float:
        assert self.every is not None
        return (math.floor(value / self.every) + 1) * self.every

    def due(self, value: float) -> bool:
        if self.next is None or value == self.last or value < self.next:
            return False
        self.next = self.after(value)
        return True

    def due_at_end(self, value: float) -> bool:
        return value != self.last

    def done(self, value: float) -> None:
        self.last = value


def check_warmup(warmup: Mapping[str, Any] | None) -> dict[str, int] | None:
    """``{n_critic, first, every}`` as ints, or None; a ``GanforgeError`` for anything else."""
    if not warmup:
        return None
    keys = {"n_critic", "first", "every"}
    if set(warmup) != keys:
        raise GanforgeError(f"model.critic_warmup takes exactly {sorted(keys)}, got {sorted(warmup)}")
    out = {k: int(warmup[k]) for k in keys}
    if out["n_critic"] < 1 or out["first"] < 0 or out["every"] < 0:
        raise GanforgeError(f"model.critic_warmup needs n_critic >= 1, first >= 0 and every >= 0, got {out}")
    return out


def critic_steps_at(g_iter: int, n_critic: int, warmup: Mapping[str, Any] | None = None) -> int:
    """Critic steps before generator iteration ``g_iter`` (the count of finished ones). WGAN's
    warm-up (Arjovsky et al., official code): ``warmup.n_critic`` steps while ``g_iter < first``
    and whenever ``g_iter % every == 0``, else ``n_critic``."""
    if warmup and (g_iter < int(warmup["first"]) or (int(warmup["every"]) and g_iter % int(warmup["every"]) == 0)):
        return int(warmup["n_critic"])
    return int(n_critic)


def boosted_iterations(g_iters: int, warmup: Mapping[str, Any] | None) -> int:
    """How many of generator iterations ``0 .. g_iters - 1`` take the warm-up's critic steps."""
    if not warmup or g_iters <= 0:
        return 0
    first, every = int(warmup["first"]), int(warmup["every"])
    count = min(g_iters, first)
    if every and g_iters > first:  # multiples of `every` in [first, g_iters)
        count += max(0, math.ceil(g_iters / every) - math.ceil(first / every))
    return count


def critic_steps_total(g_iters: int, n_critic: int, warmup: Mapping[str, Any] | None = None) -> int:
    """Critic steps in generator iterations ``0 .. g_iters - 1``."""
    boosted = boosted_iterations(g_iters, warmup)
    extra = int(warmup["n_critic"]) - int(n_critic) if warmup else 0
    return int(g_iters) * int(n_critic) + boosted * extra


class LinearDecay:
    """Learning-rate factor by generator iteration: 1 until ``start`` (a fraction of ``total``),
    then linearly down to 0 at ``total`` (the SNGAN/BigGAN-style decay that sharpens the end of a
    run). A class, not a lambda, so the scheduler's checkpointed state is plain data."""

    def __init__(self, total: int, start: float = 0.0) -> None:
        self.total, self.start = int(total), float(start)

    def __call__(self, g_iter: int) -> float:
        begin = self.start * self.total
        if g_iter <= begin:
            return 1.0
        return max(0.0, (self.total - g_iter) / (self.total - begin))


class StepDrop:
    """Learning-rate factor by scheduler step: 1 before ``at``, then ``factor`` (SRGAN's drop from
    1e-4 to 1e-5 halfway through the adversarial updates)."""

    def __init__(self, at: int, factor: float) -> None:
        self.at, self.factor = int(at), float(factor)

    def __call__(self, step: int) -> float:
        return 1.0 if step < self.at else self.factor
