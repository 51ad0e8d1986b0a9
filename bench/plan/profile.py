"""One profile of a suite, checked: its datasets, seeds, training-set sizes, pairs and the
parameter layers it sets, with the command line's replacements applied."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import LARGEST_INT
from bench.errors import UserError
from bench.plan.schema import BUDGETS_FROM, NETS_KEY, PAIR_KEYS, PROFILE_KEYS, as_list, check_keys, check_method_params
from bench.registry import DATASETS, NETS


@dataclass(frozen=True)
class Profile:
    name: str
    where: str
    """The profile's place in the suite file, for error messages."""
    body: dict[str, Any]
    datasets: list[str]
    seeds: list[int]
    sizes: dict[str, list]
    """Training-set sizes per dataset (None: the full set)."""
    pairs: dict[str, list[dict]]
    """Per dataset, its teacher/student pairs (each with ``name`` and ``where``)."""
    params: dict
    dataset_params: dict
    n_train_params: dict

    @property
    def teacher_seed(self) -> int | None:
        return self.body.get("teacher_seed")

    def matches_paper(self, written_sizes: set) -> bool:
        """Whether the run grid is the paper's: the profile says so and the command line
        asked for no dataset or size outside it (a subset of the paper's columns still is)."""
        return (bool(self.body.get("matches_paper", False)) and set(self.datasets) <= set(self.body["datasets"])
                and {n for ns in self.sizes.values() for n in ns} <= written_sizes)


def pair_name(pair: dict) -> str:
    """A pair's ``name``, else ``a+b`` for online nets, else ``teacher>student``."""
    if NETS_KEY in pair and isinstance(pair[NETS_KEY], list):
        return pair.get("name", "+".join(map(str, pair[NETS_KEY])))
    return pair.get("name", f"{pair.get('teacher')}>{pair.get('student')}")


def check_profile_name(path: Path, profiles: Any, profile: str) -> None:
    """``profile`` is one the suite defines (checked on the file alone, before torch loads)."""
    if isinstance(profiles, dict) and profile not in profiles:
        raise UserError(f"{path}: profile {profile!r} is not defined; accepted: {', '.join(map(str, profiles))}")


def read_profile(path: Path, profiles: dict, profile: str, datasets: list[str] | None,
                 seeds: list[int] | None, n_train: list[int] | None) -> Profile:
    check_profile_name(path, profiles, profile)
    where = f"{path}: profiles.{profile}"
    prof = check_keys(profiles[profile], PROFILE_KEYS, where, ("datasets", "seeds", "pairs"))
    for key in ("matches_paper", "example_data"):
        if not isinstance(prof.get(key, False), bool):
            raise UserError(f"{where}.{key}: expected true or false, got {prof[key]!r}")
    ds_list = datasets or as_list(prof["datasets"], f"{where}.datasets")
    raw_pairs = check_keys(prof["pairs"], set(DATASETS.names()) | {"default"}, f"{where}.pairs")
    ds_params = check_keys(prof.get("dataset_params", {}), set(DATASETS.names()), f"{where}.dataset_params")
    n_params = check_keys(prof.get("n_train_params", {}), set(DATASETS.names()), f"{where}.n_train_params")
    pairs = {}
    for ds in ds_list:
        DATASETS.get(ds, f"{where}.datasets")
        pairs[ds] = dataset_pairs(raw_pairs, ds, where)
        check_dataset_params(ds_params, ds, where)
        check_size_params(n_params.get(ds, {}), f"{where}.n_train_params.{ds}")
    return Profile(profile, where, prof, ds_list, read_seeds(seeds, prof, where),
                   read_sizes(n_train, prof, ds_list, where), pairs,
                   check_method_params(prof.get("params", {}), f"{where}.params"), ds_params, n_params)


def dataset_pairs(raw_pairs: dict, ds: str, where: str) -> list[dict]:
    """The pairs of ``ds`` (``default``: any other dataset, a user's csv:PATH), checked."""
    if ds not in raw_pairs and "default" not in raw_pairs:
        raise UserError(f"{where}.pairs: no teacher/student pair for dataset {ds!r}; "
                        f"defined for: {', '.join(raw_pairs)}")
    key = ds if ds in raw_pairs else "default"
    entries = raw_pairs[key] if isinstance(raw_pairs[key], list) else [raw_pairs[key]]
    out = []
    for k, pair in enumerate(entries):
        pwhere = f"{where}.pairs.{key}" + (f"[{k}]" if isinstance(raw_pairs[key], list) else "")
        if isinstance(pair, dict) and NETS_KEY in pair:
            nets = pair[NETS_KEY]
            if not (isinstance(nets, list) and nets and all(isinstance(n, str) for n in nets)):
                raise UserError(f"{pwhere}.nets: expected a list of net names (e.g. [resnet32, resnet32]), "
                                f"got {nets!r}")
            for j, net in enumerate(nets):
                NETS.get(net, f"{pwhere}.nets[{j}]")
            pair = {"student": nets[0], "teacher": nets[-1], **pair}
        check_keys(pair, PAIR_KEYS, pwhere, ("teacher", "student"))
        for role in ("teacher", "student", "discriminator", "sampler"):
            if role in pair:
                NETS.get(pair[role], f"{pwhere}.{role}")
        check_method_params(pair.get("params", {}), f"{pwhere}.params")
        out.append({"name": pair_name(pair), "where": pwhere, **pair})
    return out


def check_dataset_params(ds_params: dict, ds: str, where: str) -> None:
    check_method_params(ds_params.get(ds, {}), f"{where}.dataset_params.{ds}", {BUDGETS_FROM})
    if ds_params.get(ds, {}).get(BUDGETS_FROM, ds) not in DATASETS:
        raise UserError(f"{where}.dataset_params.{ds}.{BUDGETS_FROM}: unknown dataset "
                        f"{ds_params[ds][BUDGETS_FROM]!r}; accepted: {', '.join(DATASETS.names())}")


def check_size_params(by_n: Any, where: str) -> None:
    if not isinstance(by_n, dict):
        raise UserError(f"{where}: expected a mapping from training-set sizes to method params, got {by_n!r}")
    for n, layer in by_n.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise UserError(f"{where}: keys are training-set sizes >= 1, got {n!r}")
        check_method_params(layer, f"{where}.{n}")


def read_seeds(seeds: list[int] | None, prof: dict, where: str) -> list[int]:
    seed_where = "--seeds" if seeds else f"{where}.seeds"
    seed_list = seeds or as_list(prof["seeds"], f"{where}.seeds")
    for s in seed_list:
        if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= LARGEST_INT:
            raise UserError(f"{seed_where}: seeds must be integers from 0 to {LARGEST_INT:,}, got {s!r}")
    if len(set(seed_list)) != len(seed_list):
        raise UserError(f"{seed_where}: seed listed twice in {seed_list}")
    return seed_list


def read_sizes(n_train: list[int] | None, prof: dict, ds_list: list[str], where: str) -> dict[str, list]:
    """Training-set sizes per dataset: the command line's, else the profile's (a list, or
    per dataset: KDGAN's MNIST and CIFAR-10 columns differ)."""
    raw_n = n_train or prof.get("n_train", [None])
    n_where = "--n-train" if n_train else f"{where}.n_train"
    if isinstance(raw_n, dict):
        check_keys(raw_n, set(DATASETS.names()), n_where)
        n_by_ds = {ds: as_list(raw_n.get(ds, [None]), f"{n_where}.{ds}") for ds in ds_list}
    else:
        n_by_ds = {ds: as_list(raw_n, n_where) for ds in ds_list}
    for n in [n for ns in n_by_ds.values() for n in ns]:
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise UserError(f"{n_where}: expected a list of training-set sizes >= 1 "
                            f"(or null for the full set), got {n!r}")
    return n_by_ds


def written_sizes(prof: dict) -> set:
    """The sizes the profile itself names: a command-line subset of them still compares."""
    sizes = prof.get("n_train", [None])
    return {n for v in (sizes.values() if isinstance(sizes, dict) else [sizes])
            for n in (v if isinstance(v, list) else [v]) if isinstance(n, (int, type(None)))}


def all_pair_names(profiles: dict) -> set[str]:
    """Pair names defined in any profile: an experiment's pair preference list spans profiles."""
    return {pair_name(p) for prof_doc in profiles.values() if isinstance(prof_doc, dict)
            for v in (prof_doc.get("pairs") or {}).values()
            for p in (v if isinstance(v, list) else [v]) if isinstance(p, dict)}
