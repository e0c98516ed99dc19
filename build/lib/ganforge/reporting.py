"""Progress of long non-training work (feature extraction, sampling): a transient bar on a
terminal, a few log lines elsewhere (CI, SLURM logs)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def counting(total: int, what: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; reports ``what`` with done/total and items per second. "done" is
    what the caller advanced (e.g. files actually written), not ``total``."""
    start = time.perf_counter()
    done = 0
    if not enabled:
        yield lambda n: None
        return
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=True) as bar:
            task = bar.add_task(what, total=total)

            def advance_bar(n: int) -> None:
                nonlocal done
                done += n
                bar.advance(task, n)

            yield advance_bar
    else:
        next_report = total / 4

        def advance(n: int) -> None:
            nonlocal done, next_report
            done += n
            if done >= next_report and done < total:
                log.info("%s: %d/%d", what, done, total)
                next_report += total / 4

        log.info("%s: %d items", what, total)
        yield advance
    seconds = time.perf_counter() - start
    log.info("%s: %d done in %.1f s (%.1f/s)", what, done, seconds, done / max(seconds, 1e-9))


class WithoutMessages(logging.Filter):
    """A logging filter that drops records whose message contains any of ``fragments``: Lightning
    lines that describe its internals as a user's setting (the run's length is ``g_iters``, which
    the loop enforces with a step limit, so Lightning's "`max_steps=N` reached" names a setting the
    user never made)."""

    def __init__(self, fragments: list[str]) -> None:
        super().__init__()
        self.fragments = list(fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)
