"""What every command-line script (train, evaluate, sample, upscale) shares: a user's error is one
line on stderr and exit status 2, not a traceback."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator

from ganforge.errors import GanforgeError, one_line
from ganforge.sweep import in_multirun


@contextlib.contextmanager
def user_errors_to_exit() -> Iterator[None]:
    """Print a ``GanforgeError`` as one line on stderr and exit with status 2 (no traceback). In a
    ``-m`` sweep the error is raised on, so Hydra marks just this job failed (an Optuna search
    goes on within ``max_failure_rate``) instead of the exit ending the whole sweep."""
    try:
        yield
    except GanforgeError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":  # the developer's switch: the whole traceback too
            traceback.print_exc()
        print(f"error: {one_line(err, limit=2000)}", file=sys.stderr)
        if in_multirun():
            raise
        sys.exit(2)
