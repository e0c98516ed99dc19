"""User-facing errors: raised before training starts, printed as one message without a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class GanforgeError(Exception):
    """A problem the user can fix (config, data, environment); the message says how."""


class SettingError(GanforgeError):
    """A value a constructor refuses without knowing where in the config it sits (a net's size, a
    loss's name): ``config_errors`` puts the config key in front of the message."""


class DataNotFoundError(GanforgeError):
    """The dataset is not on disk and could not be downloaded."""


class DivergedError(GanforgeError):
    """Training produced non-finite losses or weights (``nan_policy: stop``)."""


def one_line(text: object, limit: int = 400) -> str:
    """Whitespace (newlines too) folded to single spaces, cut to ``limit`` characters."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."


def root_cause(err: BaseException) -> BaseException:
    """The innermost explicit cause (Hydra's InstantiationException wraps the constructor's error)."""
    seen = {id(err)}
    while err.__cause__ is not None and id(err.__cause__) not in seen:
        err = err.__cause__
        seen.add(id(err))
    return err


def with_key(err: GanforgeError, key: str) -> GanforgeError:
    """A ``SettingError`` as a ``GanforgeError`` ``<key>: <message>`` (so an outer ``config_errors``
    leaves it as it is); any other ``GanforgeError`` unchanged."""
    return GanforgeError(f"{key}: {err}") if isinstance(err, SettingError) else err


@contextlib.contextmanager
def config_errors(key: str) -> Iterator[None]:
    """Any exception raised while building what config key ``key`` describes becomes one
    ``GanforgeError`` line, ``<key>: <message>``: the single mechanism behind every constructor
    error of data, model, nets, optimizers, callbacks, loggers and trainer. A ``GanforgeError``
    passes unchanged (its message names the setting), a ``SettingError`` gets the key in front."""
    try:
        yield
    except GanforgeError as err:
        raise with_key(err, key) from None
    except Exception as err:  # noqa: BLE001 - the user sees which key was wrong, and why
        cause = root_cause(err)
        if isinstance(cause, GanforgeError):
            raise with_key(cause, key) from None
        message = one_line(cause) or type(cause).__name__
        if isinstance(cause, (ImportError, AttributeError)) and "_target_" not in message:
            message = f"{type(cause).__name__}: {message}"
        raise GanforgeError(f"{key}: {message}") from err
