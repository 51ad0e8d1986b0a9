"""Typed method configs: build a frozen dataclass from YAML overrides, with checks.

Every method declares a frozen dataclass of its paper's defaults. Suites override
fields by name; an unknown name or a value of the wrong type is a UserError that
names where it came from and what is accepted.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import math
import textwrap
import typing
from typing import Any

from bench.errors import UserError
from bench.registry import NETS, Entry


AUTO = "auto"
"""Threads per run chosen from the run and the machine (bench/run/threads.py)."""


def parse_threads(value: int | str | None, where: str = "--threads") -> int | str:
    """``auto`` (also for None) or a whole number of at least 1; anything else is a UserError."""
    if value is None or value == AUTO:
        return AUTO
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(value).strip() not in (str(number), f"{number}.0"):
        raise UserError(f"{where} must be {AUTO!r} or a whole number of at least 1, got {value!r}")
    return number


def config_class(method: Entry, student: str) -> type:
    """The config class of ``method`` for a run training ``student``: the method's one class,
    or, for a method whose student can be a forest or a network (GAN-TSC's family), the
    class registered for the student's kind (``config={"estimator": ..., "classifier": ...}``)."""
    config = method.meta["config"]
    if not isinstance(config, dict):
        return config
    kind = NETS.get(student).meta.get("kind")
    if kind not in config:
        raise UserError(f"method {method.name!r} cannot train a {kind!r} student ({student!r}); "
                        f"it trains: {', '.join(config)}")
    return config[kind]


def config_classes(method: Entry) -> list[type]:
    """Every config class a method may use (validating ``--set`` before students are known)."""
    config = method.meta["config"]
    return list(config.values()) if isinstance(config, dict) else [config]


def build_config(cls: type, overrides: dict[str, Any], where: str) -> Any:
    """Return ``cls(**defaults | overrides)`` after checking names and types."""
    fields, hints = _fields_and_hints(cls)
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            raise UserError(
                f"{where}: unknown parameter {key!r} for {cls.__name__}; "
                f"accepted: {', '.join(sorted(fields))}"
            )
        values[key] = _coerce(value, hints[key], f"{where}.{key}")
        check_range(key, values[key], f"{where}.{key}")
    try:
        return cls(**values)
    except ValueError as exc:  # __post_init__ checks of allowed values
        raise UserError(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=None)
def _fields_and_hints(cls: type) -> tuple[dict[str, dataclasses.Field], dict[str, Any]]:
    """A config class's fields and resolved type hints, once per class (resolving the hints
    is slow, and a paper grid builds thousands of configs)."""
    return {f.name: f for f in dataclasses.fields(cls)}, typing.get_type_hints(cls)


AT_LEAST_ONE = frozenset({"epochs", "batch_size", "generator_steps", "student_steps",
                          "iters_per_epoch", "nz", "ngf"})
"""Counts: a run with zero epochs or batches of zero images is a typo, not an experiment."""
POSITIVE = frozenset({"lr", "lr_generator", "lr_student", "lr_gamma", "temperature", "generator_bn_eps"})
NON_NEGATIVE = frozenset({"weight_decay", "generator_weight_decay", "momentum", "grad_clip",
                          "memory_size", "pretrain_steps", "lr_milestones"})


LARGEST_INT = 2**31 - 1
"""The largest whole number a parameter may hold: torch's sizes and numpy's seeds fit it, and
no budget of any paper comes near it (a count beyond it is a typo that would never finish)."""


def check_range(name: str, value: Any, where: str) -> None:
    """Reject values no paper uses: non-finite floats, counts < 1, rates <= 0, decays < 0,
    whole numbers beyond ``LARGEST_INT``."""
    for v in value if isinstance(value, tuple) else (value,):
        if isinstance(v, float) and not math.isfinite(v):
            raise UserError(f"{where}: {v!r} is not a finite number")
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if isinstance(v, int) and abs(v) > LARGEST_INT:
            raise UserError(f"{where}: {v} is too large; whole numbers up to {LARGEST_INT:,} are accepted")
        if name in AT_LEAST_ONE and v < 1:
            raise UserError(f"{where}: must be at least 1, got {v!r}")
        if name in POSITIVE and v <= 0:
            raise UserError(f"{where}: must be > 0, got {v!r}")
        if name in NON_NEGATIVE and v < 0:
            raise UserError(f"{where}: must be >= 0, got {v!r}")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where) for v in value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads 1e-3 as a string
        except ValueError:
            pass
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise UserError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def config_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


@functools.lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass (subclasses win), read from
    the source: they cite where each default comes from and mark departures."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError):
            continue
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs
