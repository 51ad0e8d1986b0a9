"""The suite file's schema: which keys each block accepts, and the readers that check them.

Every check raises a UserError naming the file, the key path and what is accepted, so a
suite is rejected before any run starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import UserError

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the same documents, ~8x faster."""

SUITES_DIR = Path(__file__).parent / "suites"
PROFILES = ("smoke", "quick", "paper")
TOP_KEYS = {"name", "papers", "description", "profiles", "experiments", "tables", "claims", "slurm"}
PROFILE_KEYS = {"description", "datasets", "seeds", "n_train", "pairs", "params", "dataset_params", "n_train_params",
                "executor", "matches_paper", "teacher_seed", "departures", "choices", "threads", "example_data"}
EXPERIMENT_KEYS = {"id", "methods", "datasets", "pairs", "figure", "description", "profiles", "n_train"}
VARIANT_KEYS = {"label", "method", "params", "profiles", "sweep", "datasets", "pairs", "sampler"}
"""``sampler``: params of the AC-GAN this variant samples from (GAN-TSC §5's inferior GAN)."""
PAIR_KEYS = {"name", "teacher", "student", "discriminator", "sampler", "params", "nets"}
NETS_KEY = "nets"
"""``pairs.<ds>.nets: [a, b, ...]``: the nets an online method trains together (AFD); the
pair's student defaults to the first, its teacher (a pre-trained peer) to the last."""
BUDGETS_FROM = "budgets_from"
"""``dataset_params.<dataset>.budgets_from: <other>``: the dataset runs on settings measured on
another dataset; the report says so."""
TABLE_KEYS = {"id", "experiment", "rows", "cols", "metric", "metrics", "reference", "caption", "protocol", "cost",
              "gain", "average"}
REFERENCE_KEYS = {"paper", "table", "metric", "metrics", "datasets", "methods", "pairs", "n_train", "runs"}
FIGURE_KEYS = {"kind", "y", "log_y", "x", "log_x"}
FIGURE_KINDS = ("curves", "sweep", "scatter")
"""An experiment's ``figure``: true, or {kind: curves | sweep | scatter, y: metric(s), log_y,
x and log_x (scatter)} (bench/report/figures.py)."""
SLURM_KEYS = {"partition", "gpus", "cpus", "mem_gb", "time_min", "array_parallelism", "max_num_timeout", "groups"}
SLURM_GROUP_KEYS = {"name", "when", "partition", "gpus", "cpus", "mem_gb", "time_min"}
MATCH_KEYS = ("dataset", "method", "student")
"""What a slurm group's ``when`` may select runs by."""


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def suite_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = SUITES_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        raise UserError(f"unknown suite {name_or_path!r}; accepted: {', '.join(suite_names())} "
                        "(or a path to a suite .yaml file)")
    return candidate


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return doc


def check_slurm(block: Any, where: str) -> dict:
    """The suite's slurm block; each of its ``groups`` names itself, says ``when`` it applies
    (datasets / methods / student nets, as lists) and which resources differ."""
    check_keys(block, SLURM_KEYS, where)
    names = []
    groups = as_list(block["groups"], f"{where}.groups") if "groups" in block else []
    for i, group in enumerate(groups):
        at = f"{where}.groups[{i}]"
        check_keys(group, SLURM_GROUP_KEYS, at, required=("name", "when"))
        check_keys(group["when"], set(MATCH_KEYS), f"{at}.when")
        for key, values in group["when"].items():
            as_list(values, f"{at}.when.{key}")
        if group["name"] in names:
            raise UserError(f"{at}: group name {group['name']!r} is used twice")
        names.append(group["name"])
    return block


def check_keys(obj: Any, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> dict:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a mapping, got {obj!r}")
    for key in obj:
        if key not in allowed:
            raise UserError(f"{where}: unknown key {key!r}; accepted: {', '.join(sorted(allowed))}")
    for key in required:
        if key not in obj:
            raise UserError(f"{where}: missing required key {key!r}")
    return obj


def as_list(value: Any, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: expected a non-empty list, got {value!r}")
    return value


def in_profile(block: dict, profile: str, where: str) -> bool:
    """Whether an experiment or variant with an optional ``profiles`` list runs in ``profile``."""
    only = block.get("profiles", list(PROFILES))
    for name in only:
        if name not in PROFILES:
            raise UserError(f"{where}.profiles: unknown profile {name!r}; accepted: {', '.join(PROFILES)}")
    return profile in only


def per_profile(value: Any, profile: str, where: str) -> list:
    """A list, or a mapping from profile names (and ``default``) to lists: an experiment
    of a paper's table runs, in the paper profile, only the columns that paper reports."""
    if not isinstance(value, dict):
        return as_list(value, where)
    check_keys(value, set(PROFILES) | {"default"}, where)
    if profile not in value and "default" not in value:
        raise UserError(f"{where}: no entry for profile {profile!r} and no 'default'")
    return as_list(value.get(profile, value.get("default")), f"{where}.{profile}")
