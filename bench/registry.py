"""One Registry class and the three registries the harness looks things up in.

Methods, nets and datasets register themselves with a decorator; the harness never
imports a specific method, it asks ``METHODS`` (after :func:`load_plugins`).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.errors import UserError


@dataclass(frozen=True)
class Entry:
    """A registered object plus its metadata (family, paper, config class, ...)."""

    name: str
    obj: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    """A net that other methods start from, made by the method that declares it
    (``METHODS.register(..., provides=(Role(...),))``); a method asks for it by name
    (``pretrained=("generator",)``) and the planner schedules the producing run first."""

    name: str
    arch: tuple[str, ...] = ("student",)
    """The pair's keys tried in order for the producing run's net."""
    seed_offset: int = 0
    """Added to the run's seed: the same architecture with weights of its own."""
    teacher_seed: bool = False
    """Seeded like the run's teacher rather than the run."""
    with_teacher: bool = False
    """The producing run distils the run's teacher (a generator trained against it)."""
    params_from: str | None = None
    """A variant key whose mapping sets the producing run's params (the point of that variant)."""
    starts_from: tuple[tuple[str, Any], ...] = ()
    """Params of a base run: a producing run with other values of them continues that run."""
    trains_teacher: bool = False
    """Methods starting from this role take their teacher from the same producer (every
    player pretrained on the same labelled set)."""


class Registry:
    """A name -> Entry mapping filled by the ``register`` decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._families: dict[str, Callable[[str], Entry]] = {}

    def register_family(self, prefix: str, make: Callable[[str], Entry]) -> None:
        """Names ``PREFIX:ARG`` resolve through ``make(ARG)`` (a user's ``csv:PATH`` data):
        the entry is built on first use, so any path is a name without a registration."""
        self._families[prefix] = make

    def register(self, name: str, **meta: Any) -> Callable[[Callable], Callable]:
        def decorate(obj: Callable) -> Callable:
            if name in self._entries and self._entries[name].obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.kind == "method":
                check_method_config(name, meta.get("config"))
                meta["metrics"] = check_metrics(name, meta.get("metrics", ACCURACY_METRICS))
            self._entries[name] = Entry(name, obj, dict(meta))
            return obj

        return decorate

    def get(self, name: str, where: str = "") -> Entry:
        family, colon, arg = name.partition(":")
        if name not in self._entries and colon and family in self._families:
            self._entries[name] = self._families[family](arg)
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            families = "".join(f", {f}:..." for f in sorted(self._families))
            raise UserError(
                f"{prefix}unknown {self.kind} {name!r}; accepted: {', '.join(self.names())}{families}"
            )
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        family, colon, _ = name.partition(":")
        return name in self._entries or bool(colon and family in self._families)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]


def check_method_config(name: str, config: Any) -> None:
    """A method's ``config=``: a dataclass (or a mapping of student kind -> dataclass) whose every
    parameter has a default, so a run of it is fully described by its spec."""
    import dataclasses

    classes = list(config.values()) if isinstance(config, dict) and config else [config]
    for cls in classes:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise UserError(f"method {name!r}: config= must be a dataclass of its parameters with their "
                            f"defaults (or a mapping of student kind -> dataclass), got {cls!r}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise UserError(f"method {name!r}: {cls.__name__} gives no default for {', '.join(missing)}; "
                            "every parameter needs one (the paper's value)")


ACCURACY_METRICS = ("acc_best", "acc_last")
"""What ``ctx.accuracy_summary()`` reports: a method's ``metrics=`` unless it declares others."""


def check_metrics(name: str, metrics: Any) -> tuple[str, ...]:
    """A method's ``metrics=``: the summary columns it may report as results (``*`` matches
    any text, as in ``acc_net*`` for a cohort of any size). Tables and claims may show only
    these, so a suite naming a column no method reports is refused before anything trains."""
    if isinstance(metrics, str) or not (isinstance(metrics, (tuple, list)) and metrics
                                        and all(isinstance(m, str) and m for m in metrics)):
        raise UserError(f"method {name!r}: metrics= must be a non-empty tuple of the summary columns it "
                        f"reports (e.g. ('acc_best', 'acc_last')), got {metrics!r}")
    return tuple(metrics)


def reports(method: str, column: str) -> bool:
    """Whether ``method`` declares the summary column ``column`` among its metrics."""
    import fnmatch

    return any(fnmatch.fnmatchcase(column, pattern) for pattern in METHODS.get(method).meta["metrics"])


METHODS = Registry("method")
NETS = Registry("net")
DATASETS = Registry("dataset")

PLUGIN_PACKAGES = ("bench.families.teachers", "bench.nets", "bench.data", "methods", "baselines")
PLUGINS_ENV = "ADVKD_PLUGINS"
"""Your own modules that register methods, nets or datasets: module names or .py paths,
separated by os.pathsep (``run_all.py --plugin`` sets it, so worker processes and SLURM
jobs, which inherit the environment, import them too)."""
ENTRY_POINT_GROUP = "advkd_bench.plugins"
"""An installed package may name its registering module in this entry-point group instead."""


def load_plugins() -> None:
    """Import every package that registers methods, nets and datasets, then the user's
    plugins (``$ADVKD_PLUGINS``, the ``advkd_bench.plugins`` entry points); idempotent."""
    for package in PLUGIN_PACKAGES:
        importlib.import_module(package)
    for item in filter(None, os.environ.get(PLUGINS_ENV, "").split(os.pathsep)):
        import_plugin(item)
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        import_plugin(point.value)


def import_plugin(item: str) -> None:
    """Import a plugin by module name or by the path of its .py file (once)."""
    path = Path(item).expanduser()
    name = f"advkd_plugin_{path.stem}" if item.endswith(".py") else item  # no clash with installed modules
    if name in sys.modules:
        return
    try:
        if item.endswith(".py"):
            if not path.is_file():
                raise UserError(f"plugin {item}: no such file (--plugin takes a .py file or an importable module)")
            spec = importlib.util.spec_from_file_location(name, path.resolve())
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        else:
            importlib.import_module(item)
    except UserError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name != item.split(".")[0] and exc.name != item:
            raise UserError(f"plugin {item}: it imports {exc.name!r}, which is not installed") from None
        raise UserError(f"plugin {item}: no module of that name (give a .py path or an importable module)") from None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a plugin's exit() or input() is not ours to obey
        raise UserError(f"plugin {item} failed to import: {type(exc).__name__}: {exc}") from None
