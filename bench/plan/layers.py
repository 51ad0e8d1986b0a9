"""A run's method parameters, merged from the layers that may set them, lowest first:

the method config's paper defaults < the experiment variant's params (what makes the
variant: e.g. ABM in MAD's setting) < ``profile.params[method]`` (budgets: a quick profile
shrinks them) < ``profile.dataset_params[dataset][method]`` <
``profile.n_train_params[dataset][n][method]`` (KDGAN's batch size, alpha, beta per n) <
the pair's ``params[method]`` < ``--set method.key=value`` on the command line < the
variant's ``sweep`` value (the point of an ablation).

Each layer is checked alone against the method's config class, so an error names its line.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import yaml

from bench.config import build_config, config_class, config_classes, config_dict
from bench.errors import UserError
from bench.plan.profile import Profile
from bench.plan.schema import NETS_KEY, as_list
from bench.registry import METHODS
from bench.spec import freeze


def parse_overrides(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["kdgan.epochs=10", ...]`` -> ``{"kdgan": {"epochs": 10}}`` (values read as YAML),
    each checked against a config class of the method that has the key (each run's own
    class checks it again when the run is resolved)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        target, eq, text = item.partition("=")
        method, dot, key = target.partition(".")
        if not (eq and dot and method and key):
            raise UserError(f"--set {item!r}: expected METHOD.KEY=VALUE, e.g. kdgan.epochs=10")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserError(f"--set {item!r}: the value is not valid YAML: {exc}") from None
        given = out.setdefault(method, {})
        if key in given and given[key] != value:
            raise UserError(f"--set {target} is given twice with different values ({given[key]!r} and "
                            f"{value!r}); give it once")
        given[key] = value
    for method, values in out.items():
        classes = config_classes(METHODS.get(method, "--set"))
        for key, value in values.items():
            owner = next((c for c in classes if key in {f.name for f in dataclasses.fields(c)}), classes[0])
            build_config(owner, {key: value}, f"--set {method}")
    return out


def sweep(label: str, variant: dict, where: str) -> list[tuple[str, dict]]:
    """One (label, swept params) per value of the variant's ``sweep`` (ablations), or itself."""
    grid = variant.get("sweep")
    if not grid:
        return [(label, {})]
    if not isinstance(grid, dict) or len(grid) != 1:
        raise UserError(f"{where}.sweep: expected one parameter with a list of values, got {grid!r}")
    (name, values), = grid.items()
    return [(f"{label}[{name}={v}]", {name: v}) for v in as_list(values, f"{where}.sweep.{name}")]


def require_dataset_settings(method: str, cls: type, dataset: str, layers: list[dict], where: str) -> None:
    """In a profile that claims to match the papers, a method's defaults stand only for the
    datasets they were written for (``cls.defaults_for``); on any other dataset every
    dataset-dependent key (``cls.dataset_keys``) must be set by the suite (variant, dataset
    or pair params), never silently taken from another dataset's defaults."""
    defaults_for = getattr(cls, "defaults_for", None)
    if defaults_for is None or dataset in defaults_for:
        return
    given = {k for layer in layers for k in layer}
    waived_by = getattr(cls, "recipe_waived_by", None)  # e.g. a teacher loaded from weights trains nothing
    if waived_by and any(layer.get(waived_by) for layer in layers):
        return
    missing = [k for k in getattr(cls, "dataset_keys", ()) if k not in given]
    if missing:
        raise UserError(f"{where}: method {method!r} has no {dataset!r} settings in this paper profile "
                        f"(its defaults are for {', '.join(defaults_for)}); set {', '.join(missing)} "
                        f"in dataset_params.{dataset}.{method} or the pair's params")


@dataclass(frozen=True)
class Layers:
    """The layers of one profile and command line; ``resolve`` gives a run's params."""

    profile: Profile
    cli: dict[str, dict[str, Any]]
    matches_paper: bool

    def resolve(self, method: str, variant_params: dict, ds: str, pair: dict, where: str,
                swept: dict | None = None, n: int | None = None, arch: str | None = None,
                swept_where: str | None = None) -> tuple:
        """The frozen params of ``method`` on ``arch`` (default: the pair's student)."""
        cls = config_class(METHODS.get(method, where), arch or pair["student"])
        fields = {f.name for f in dataclasses.fields(cls)}
        p, pw = self.profile, self.profile.where
        layers = [({NETS_KEY: pair[NETS_KEY]} if NETS_KEY in pair and NETS_KEY in fields else {},
                   f"{pair['where']}.nets"),
                  (variant_params or {}, f"{where}.params"),
                  (p.params.get(method) or {}, f"{pw}.params.{method}"),
                  (p.dataset_params.get(ds, {}).get(method) or {}, f"{pw}.dataset_params.{ds}.{method}"),
                  (p.n_train_params.get(ds, {}).get(n, {}).get(method) or {},
                   f"{pw}.n_train_params.{ds}.{n}.{method}"),
                  (pair.get("params", {}).get(method) or {}, f"{pair['where']}.params.{method}"),
                  (self.cli.get(method) or {}, f"--set {method}"),
                  (swept or {}, swept_where or f"{where}.sweep")]
        for layer, layer_where in layers:
            build_config(cls, layer, layer_where)
        if self.matches_paper:
            require_dataset_settings(method, cls, ds, [layers[i][0] for i in (1, 3, 4, 5)], where)
        cfg = build_config(cls, {k: v for layer, _ in layers for k, v in layer.items()}, where)
        return freeze(config_dict(cfg))
