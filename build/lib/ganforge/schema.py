"""The typed schema of every config group, checked in one pass over the composed config before
anything is built. The schema of a node with a ``_target_`` is its constructor's signature: each
key must be one of its parameters (unless it takes ``**kwargs``), of the parameter's type hint,
and inside the range that ``Annotated[<type>, AtLeast(...)]``/``Range(...)`` metadata states. The
top-level keys of each entry point have their hints in ``config.SCHEMAS``. A wrong value fails with
one line: the key, what it takes, the value given."""

from __future__ import annotations

import collections.abc
import difflib
import functools
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from ganforge.errors import GanforgeError

__all__ = ["Above", "AtLeast", "Range", "Annotated", "check_node", "check_tree", "check_value", "describe"]


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``low <= value`` (``low < value`` when ``low_open``), likewise ``high``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts)


def AtLeast(low: float) -> Range:  # noqa: N802  (reads as a type's qualifier: Annotated[int, AtLeast(1)])
    return Range(low=low)


def Above(low: float) -> Range:  # noqa: N802
    return Range(low=low, low_open=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _is_class_only(hint: Any) -> bool:
    """A hint no config value can satisfy: a class that is not a plain or container type."""
    return (isinstance(hint, type) and typing.get_origin(hint) is None and hint is not type(None)
            and not issubclass(hint, (bool, int, float, str, PurePath, list, tuple, dict)))


def describe(hint: Any) -> str:
    """A type hint in a user's words: ``a whole number >= 1 or null``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        base, ranges = args[0], [m for m in args[1:] if isinstance(m, Range)]
        text = describe(base)
        if ranges:
            nullable = text.endswith(" or null")
            text = text.removesuffix(" or null") + " " + " and ".join(r.describe() for r in ranges)
            text += " or null" if nullable else ""
        return text
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        rest = [a for a in rest if not _is_class_only(a)] or rest  # what a config can give
        literals = list(dict.fromkeys(v for a in rest if typing.get_origin(a) is Literal for v in typing.get_args(a)))
        others = [describe(a) for a in rest if typing.get_origin(a) is not Literal]
        text = " or ".join(others + (["one of " + ", ".join(str(v) for v in literals)] if literals else []))
        return text + (" or null" if len(rest) < len(args) else "")
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if hint is bool:
        return "true or false"
    if hint is int:
        return "a whole number"
    if hint is float:
        return "a number"
    if hint is str or (isinstance(hint, type) and issubclass(hint, PurePath)):
        return "a string"
    if hint is type(None):
        return "null"
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = {describe(a) for a in args}
        return f"a list of {len(args)} values" + (f", each {items.pop()}" if len(items) == 1 else "")
    if origin in (list, tuple, collections.abc.Sequence, set, frozenset):
        return "a list"
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def matches(value: Any, hint: Any) -> bool | None:
    """Whether a config value fits a type hint: True, False, or None where a hint says nothing a
    config value could be checked against (a class such as ``nn.Module``, a callable, a type var)."""
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, (typing.TypeVar, str)):
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        base = matches(value, args[0])
        if base is False:
            return False
        if _is_number(value) and any(isinstance(m, Range) and not m.admits(value) for m in args[1:]):
            return False
        return base
    if origin in (Union, types.UnionType):
        # Beside the types a config holds, a class member (``float | Tensor``) admits no plain value.
        results = [False if _is_plain(value) and _is_class_only(a) else matches(value, a) for a in args]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if origin is Literal:
        return value in args
    if hint is type(None) or hint is None:
        return value is None
    if value is None:
        return False
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return isinstance(value, (str, PurePath))
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable) or hint in (
            list, tuple):
        if not isinstance(value, (ListConfig, list, tuple)):
            return False
        items = list(value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(items):
                return False
            results = [matches(v, a) for v, a in zip(items, args, strict=True)]
        else:
            results = [matches(v, args[0]) for v in items] if args else []
        return False if any(r is False for r in results) else True
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping) or hint in (dict, DictConfig):
        return isinstance(value, (DictConfig, dict))
    return None  # a class, a callable, a tensor: what a config cannot hold, so nothing to check


@functools.cache
def parameters_of(target: str) -> tuple[dict[str, Any], bool] | None:
    """The keyword parameters of what ``target`` names (a class's ``__init__`` through the classes
    it passes ``**kwargs`` on to, or a function) with their hints, and whether it takes any keyword
    (``**kwargs`` that reach no known constructor). None when it cannot be imported here (the
    builder reports that)."""
    try:
        obj = get_object(target)
    except Exception:  # noqa: BLE001  (the builder reports what cannot be imported)
        return None
    if not callable(obj):
        return None
    functions = [c.__dict__["__init__"] for c in obj.__mro__ if "__init__" in c.__dict__] if isinstance(
        obj, type) else [obj]
    params: dict[str, Any] = {}
    for function in functions:
        if function is object.__init__:
            break
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return params, True
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except Exception:  # noqa: BLE001  (annotations that do not evaluate here: check the names only)
            hints = {}
        open_ended = False
        for name, p in signature.parameters.items():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                open_ended = True
            elif p.kind is not inspect.Parameter.VAR_POSITIONAL and name != "self":
                params.setdefault(name, hints.get(name, inspect.Parameter.empty))
        if not open_ended:
            return params, False
    return params, True


def _fail(key: str, hint: Any, value: Any) -> GanforgeError:
    shown = OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value
    return GanforgeError(f"{key} must be {describe(hint)}, got {shown!r}")


def check_value(key: str, value: Any, hint: Any) -> None:
    if matches(value, hint) is False:
        raise _fail(key, hint, value)


def check_node(node: DictConfig, where: str) -> None:
    """One node with a ``_target_`` against its constructor, then every node below it."""
    target = node.get("_target_")
    found = parameters_of(str(target)) if isinstance(target, str) else None
    name = str(target).rsplit(".", 1)[-1]
    for key in node:
        key = str(key)
        if key.startswith("_") and key.endswith("_"):
            continue
        path = f"{where}.{key}"
        try:
            value = node[key]
        except Exception as err:  # noqa: BLE001  (an interpolation that cannot resolve)
            raise GanforgeError(f"{path}: {err}") from None
        if found is not None:
            params, open_ended = found
            if key not in params and not open_ended:
                near = difflib.get_close_matches(key, list(params), n=1)
                hint = f"; did you mean {near[0]}?" if near else f"; it takes {', '.join(sorted(params))}"
                raise GanforgeError(f"{path}: {name} has no setting {key!r}{hint}")
            if key in params and not (isinstance(value, DictConfig) and "_target_" in value):
                check_value(path, value, params[key])
        if isinstance(value, (DictConfig, ListConfig)):
            check_tree(value, path)


def check_tree(node: Any, where: str) -> None:
    """Every ``_target_`` node at or below ``node``."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            check_node(node, where)
            return
        for key in node:
            try:
                child = node[key]
            except Exception as err:  # noqa: BLE001
                raise GanforgeError(f"{where}.{key}: {err}") from None
            check_tree(child, f"{where}.{key}" if where else str(key))
    elif isinstance(node, ListConfig):
        for i, child in enumerate(node):
            check_tree(child, f"{where}[{i}]")


def check_arguments(function: Any, values: dict[str, Any], where: str) -> None:
    """A constructor's own arguments against its signature, for callers that build it without a
    config (a notebook, a test): the same check and message as the config pass."""
    for name, hint in typing.get_type_hints(function, include_extras=True).items():
        if name in values and name != "return":
            check_value(f"{where}.{name}", values[name], hint)
