"""The suite file's schema: which keys each block accepts, and the readers that check them.

Every check raises a UserError naming the file, the key path and what is accepted, so a
suite is rejected before any run starts.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from bench.errors import UserError

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the same documents, ~8x faster."""

SUITES_DIR = Path(__file__).parent / "suites"
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]{0,79}")
"""Names used as they are in a file name: no separator, no leading dot, no ``..`` escape."""
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


def file_name(name: str) -> str:
    """``name`` (a suite, dataset, table, experiment or pair name) as one component of a file
    name that stays in its folder: unchanged when it is already one, else its readable part (a
    ``csv:PATH``'s file stem) and 8 hex digits of its digest, so two names never collide."""
    if FILE_NAME.fullmatch(name) and ".." not in name:
        return name
    readable = Path(name.partition(":")[2] or name).name.partition("#")[0]
    readable = Path(readable).stem if "." in readable else readable
    slug = re.sub(r"[^A-Za-z0-9_+=-]+", "-", readable).strip("-")[:40] or "name"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


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


MAX_SUITE_BYTES = 1 << 20
MAX_SUITE_NODES = 100_000
"""Limits on a suite file: its size, and its values counted with every alias expanded (the
largest suite shipped has a few thousand); beyond them a suite is refused, not expanded."""


def read_yaml(path: Path) -> dict[str, Any]:
    """A suite file's top-level mapping. Refused with a UserError naming the file: what is not
    a readable UTF-8 file under ``MAX_SUITE_BYTES``, invalid YAML, a key given twice in one
    mapping (YAML would keep the last silently), aliases expanding past ``MAX_SUITE_NODES``."""
    if not path.is_file():
        raise UserError(f"{path}: not a file (a suite is a YAML file)")
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise UserError(f"{path}: {size:,} bytes; a suite file may have at most {MAX_SUITE_BYTES:,}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); "
                        "save the suite as UTF-8") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from None
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_node(node, path, {}, 0)
        doc = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return doc


def _check_node(node: yaml.Node, path: Path, sizes: dict[int, int], depth: int) -> int:
    """The number of values under ``node`` with aliases expanded; raise on a duplicate key or
    past the limits (an alias is the same node object, so each is counted once per use)."""
    if id(node) in sizes:
        total = sizes[id(node)]
    elif depth > 100:
        raise UserError(f"{path}, line {node.start_mark.line + 1}: nested more than 100 levels deep")
    else:
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    if key.value in seen:
                        raise UserError(f"{path}, line {key.start_mark.line + 1}: key {key.value!r} is given "
                                        f"twice in one mapping (first at line {seen[key.value]}); keep one")
                    seen[key.value] = key.start_mark.line + 1
            children = [n for pair in node.value for n in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        for child in children:
            total += _check_node(child, path, sizes, depth + 1)
            if total > MAX_SUITE_NODES:
                break
        sizes[id(node)] = total
    if total > MAX_SUITE_NODES:
        raise UserError(f"{path}: its aliases expand to more than {MAX_SUITE_NODES:,} values; "
                        "a suite may hold at most that many")
    return total


def check_slurm(block: Any, where: str) -> dict:
    """The suite's slurm block; each of its ``groups`` names itself, says ``when`` it applies
    (datasets / methods / student nets, as lists) and which resources differ."""
    check_keys(block, SLURM_KEYS, where)
    names = []
    groups = as_list(block["groups"], f"{where}.groups") if "groups" in block else []
    for i, group in enumerate(groups):
        at = f"{where}.groups[{i}]"
        check_keys(group, SLURM_GROUP_KEYS, at, required=("name", "when"))
        check_keys(group["when"], set(MATCH_KEYS), f"{at}.when", typed=False)  # lists of names
        for key, values in group["when"].items():
            as_list(values, f"{at}.when.{key}")
        if group["name"] in names:
            raise UserError(f"{at}: group name {group['name']!r} is used twice")
        names.append(group["name"])
    return block


TEXT_KEYS = {"name", "id", "method", "label", "experiment", "claim", "rows", "cols", "caption",
             "protocol", "teacher", "student", "discriminator"}
"""Keys whose value is a name or a text wherever they appear: a number or a list there is a mistake."""
MAPPING_KEYS = {"params"}


def check_keys(obj: Any, allowed: set[str], where: str, required: tuple[str, ...] = (), typed: bool = True) -> dict:
    """``obj`` as a mapping with only ``allowed`` keys, the ``required`` ones present, and (when
    ``typed``) the text and mapping keys holding a text and a mapping."""
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a mapping, got {obj!r}")
    for key in obj:
        if key not in allowed:
            raise UserError(f"{where}: unknown key {key!r}; accepted: {', '.join(sorted(map(str, allowed)))}")
    for key in required:
        if key not in obj:
            raise UserError(f"{where}: missing required key {key!r}")
    for key, value in obj.items() if typed else ():
        if key in TEXT_KEYS and not (isinstance(value, str) and value.strip()):
            raise UserError(f"{where}.{key}: expected a non-empty text, got {value!r}")
        if key in MAPPING_KEYS and not isinstance(value, dict):
            raise UserError(f"{where}.{key}: expected a mapping of parameter -> value, got {value!r}")
    return obj


def check_method_params(obj: Any, where: str, also: set[str] = frozenset()) -> dict:
    """A mapping of method -> its parameters (a mapping), ``also`` keys allowed beside them."""
    from bench.registry import METHODS

    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a mapping of method -> parameters, got {obj!r}")
    for method, params in obj.items():
        if method not in METHODS and method not in also:
            raise UserError(f"{where}: unknown key {method!r}; accepted: "
                            f"{', '.join(sorted(set(METHODS.names()) | set(also)))}")
        if method not in also and not isinstance(params, dict):
            raise UserError(f"{where}.{method}: expected a mapping of parameter -> value, got {params!r}")
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
