"""Suite YAML -> validated list of jobs (RunSpec + experiment + label).

Everything is checked before any run starts: unknown keys, methods, datasets, nets,
profiles and method parameters stop with a UserError naming the file, the key and
the accepted values. Parameters are merged as: the method config's paper defaults
< the experiment variant's params (what makes the variant: e.g. ABM in MAD's setting)
< ``profile.params[method]`` (budgets: a quick profile shrinks them)
< ``profile.dataset_params[dataset][method]``
< ``profile.n_train_params[dataset][n][method]`` (KDGAN's batch size, alpha, beta per n)
< the pair's ``params[method]`` < ``--set method.key=value`` on the command line
< the variant's ``sweep`` value (the point of an ablation).

A method registered with ``pretrained=(roles...)`` (the adversarial-label family) starts
from nets pretrained on its own labelled set: its teacher and each role (``classifier``:
the student's architecture and seed; ``discriminator``: the pair's discriminator, by default
the teacher's architecture) become ``pretrain`` runs on the same n_train.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.plan.claims import parse_claim
from bench.config import build_config, config_class, config_classes, config_dict
from bench.errors import UserError
from bench.nets.forests import is_estimator
from bench.registry import DATASETS, METHODS, NETS
from bench.spec import RunSpec, freeze
from bench.config import AUTO, parse_threads

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the same documents, ~8x faster."""

SUITES_DIR = Path(__file__).parent / "suites"
PROFILES = ("smoke", "quick", "paper")
TOP_KEYS = {"name", "papers", "description", "profiles", "experiments", "tables", "claims", "slurm"}
PROFILE_KEYS = {"description", "datasets", "seeds", "n_train", "pairs", "params", "dataset_params", "n_train_params",
                "executor", "matches_paper", "teacher_seed", "departures", "choices", "threads"}
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
DISCRIMINATOR_SEED = 10_000
"""Offset between a discriminator's seed and its teacher's: same architecture, own weights."""
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


@dataclass(frozen=True)
class Job:
    spec: RunSpec
    experiment: str
    label: str
    pair: str = ""


@dataclass
class Table:
    id: str
    experiment: str
    rows: str = "label"
    cols: str = "dataset"
    metric: str = "acc_best"
    caption: str = ""
    protocol: str = ""
    reference: dict[str, Any] | None = None
    cost: bool = False
    """Show each row's net FLOPs (MACs, measured) beside its column, as DFAD Table 2 does."""
    metrics: dict[str, str] | None = None
    """Several metrics side by side: summary column -> header (and the paper's metric name
    in the reference csv unless ``reference.metrics`` maps it), one column per (``cols``
    value, metric), as KDGAN Table 2 prints P@3 ... MRR per tag set. ``metric`` is then ignored."""
    gain: dict[str, Any] | None = None
    """``{over: <row>, metrics: [summary columns]}``: each other row's difference to that row's
    mean in the same column, printed after the cell (AFD Table 3's "(+x%)" over Vanilla)."""
    average: str | None = None
    """A column of that name averaging each row over the table's columns, per seed (AFD Table
    4's "Average" pair row)."""

    def metric_columns(self) -> list[tuple[str, str | None]]:
        """(summary column, header suffix or None) for each metric the table shows."""
        return list(self.metrics.items()) if self.metrics else [(self.metric, None)]

    @property
    def metric_names(self) -> str:
        """The summary column(s) the cells come from, for the report and the terminal."""
        return ", ".join(name for name, _ in self.metric_columns())


@dataclass
class Plan:
    """A suite expanded for one profile: jobs, tables, claims and settings."""

    suite: str
    profile: str
    path: Path
    papers: list[str]
    jobs: list[Job]
    tables: list[Table]
    claims: list[dict[str, str]]
    slurm: dict[str, Any] = field(default_factory=dict)
    matches_paper: bool = False
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    departures: list[str] = field(default_factory=list)
    """Known departures from the papers in this profile (listed in the report)."""
    choices: list[str] = field(default_factory=list)
    """Settings the papers leave open, and what this profile uses (listed in the report)."""
    notes: list[str] = field(default_factory=list)
    """What a reader must know about how this plan differs from the profile as written (a
    dataset override running on budgets set for another dataset)."""
    threads: int | str = AUTO
    """The profile's torch threads per run (``threads:``; ``--threads`` overrides it)."""

    @property
    def specs(self) -> list[RunSpec]:
        seen: dict[str, RunSpec] = {}
        for job in self.jobs:
            seen.setdefault(job.spec.run_id, job.spec)
        return list(seen.values())


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


def pair_name(pair: dict) -> str:
    """A pair's ``name``, else ``a+b`` for online nets, else ``teacher>student``."""
    if NETS_KEY in pair and isinstance(pair[NETS_KEY], list):
        return pair.get("name", "+".join(map(str, pair[NETS_KEY])))
    return pair.get("name", f"{pair.get('teacher')}>{pair.get('student')}")


def row_labels(experiment: dict, where: str) -> set[str]:
    """The row labels an experiment's variants produce (sweeps included)."""
    return {lab for v in experiment["methods"]
            for lab, _ in sweep(v.get("label", METHODS.get(v["method"]).meta.get("label", v["method"])), v, where)}


def select_pairs(available: list[dict], wanted: list[str] | None, where: str) -> list[dict]:
    """The pairs an experiment runs on a dataset.

    Without ``pairs`` every pair of the dataset runs (MAD Table 1: ResNet and WRN). With
    it, ``pairs`` is an order of preference: the first name the dataset defines is used
    (MAD Table 2: WRN on CIFAR, ResNet on TinyImageNet); a dataset with a single pair uses it.
    """
    if not wanted or len(available) == 1:
        return available
    for name in wanted:
        chosen = [p for p in available if p["name"] == name]
        if chosen:
            return chosen
    raise UserError(f"{where}.pairs: none of {wanted} is defined for this dataset; "
                    f"defined: {', '.join(p['name'] for p in available)}")


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


def sweep(label: str, variant: dict, where: str) -> list[tuple[str, dict]]:
    """One (label, swept params) per value of the variant's ``sweep`` (ablations), or itself.

    The swept value is the point of the ablation, so it overrides every other layer.
    """
    grid = variant.get("sweep")
    if not grid:
        return [(label, {})]
    if not isinstance(grid, dict) or len(grid) != 1:
        raise UserError(f"{where}.sweep: expected one parameter with a list of values, got {grid!r}")
    (name, values), = grid.items()
    return [(f"{label}[{name}={v}]", {name: v}) for v in as_list(values, f"{where}.sweep.{name}")]


def parse_overrides(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["kdgan.epochs=10", ...]`` -> ``{"kdgan": {"epochs": 10}}`` (values read as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        target, eq, text = item.partition("=")
        method, dot, key = target.partition(".")
        if not (eq and dot and method and key):
            raise UserError(f"--set {item!r}: expected METHOD.KEY=VALUE, e.g. kdgan.epochs=10")
        try:
            out.setdefault(method, {})[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserError(f"--set {item!r}: the value is not valid YAML: {exc}") from None
    return out


def experiment_sizes(exp: dict, dataset: str, profile: str, sizes: list, where: str) -> list:
    """The training sizes an experiment runs on ``dataset``: the profile's, or those of
    them its ``n_train`` names, a list or a mapping from datasets / profiles / ``default``
    to lists (KDGAN Table 1: MNIST 100 / 1k / 10k, CIFAR-10 500 / 5k / 50k)."""
    wanted = exp.get("n_train")
    if isinstance(wanted, dict):
        check_keys(wanted, set(DATASETS.names()) | set(PROFILES) | {"default"}, where)
        wanted = next((wanted[k] for k in (dataset, profile, "default") if k in wanted), None)
    if wanted is None:
        return sizes
    return [n for n in sizes if n in as_list(wanted, where)]


def load_plan(suite: str, profile: str = "quick", datasets: list[str] | None = None,
              seeds: list[int] | None = None, n_train: list[int] | None = None,
              overrides: list[str] | None = None, only: list[str] | None = None) -> Plan:
    """Read, validate and expand ``suite`` for ``profile`` (with optional CLI overrides:
    datasets, seeds, training-set sizes, ``--set`` method parameters, and ``only`` the
    named experiments)."""
    cli = parse_overrides(overrides)
    for method, values in cli.items():
        classes = config_classes(METHODS.get(method, "--set"))
        for key, value in values.items():  # checked against a class that has the key (each run's own: later)
            owner = next((c for c in classes if key in {f.name for f in dataclasses.fields(c)}), classes[0])
            build_config(owner, {key: value}, f"--set {method}")
    path = suite_path(suite)
    doc = {k: v for k, v in read_yaml(path).items() if not str(k).startswith("x-")}  # anchor holders
    doc = check_keys(doc, TOP_KEYS, str(path), ("name", "profiles", "experiments"))
    profiles = check_keys(doc["profiles"], set(PROFILES), f"{path}: profiles")
    if profile not in profiles:
        raise UserError(f"{path}: profile {profile!r} is not defined; accepted: {', '.join(profiles)}")
    where = f"{path}: profiles.{profile}"
    prof = check_keys(profiles[profile], PROFILE_KEYS, where, ("datasets", "seeds", "pairs"))
    ds_list = datasets or as_list(prof["datasets"], f"{where}.datasets")
    seed_list = seeds or as_list(prof["seeds"], f"{where}.seeds")
    raw_n = n_train or prof.get("n_train", [None])
    n_where = "--n-train" if n_train else f"{where}.n_train"
    raw_pairs = check_keys(prof["pairs"], set(DATASETS.names()) | {"default"}, f"{where}.pairs")
    params = check_keys(prof.get("params", {}), set(METHODS.names()), f"{where}.params")
    ds_params = check_keys(prof.get("dataset_params", {}), set(DATASETS.names()), f"{where}.dataset_params")
    n_params = check_keys(prof.get("n_train_params", {}), set(DATASETS.names()), f"{where}.n_train_params")
    matches_paper = bool(prof.get("matches_paper", False))
    pairs: dict[str, list[dict]] = {}
    for ds in ds_list:
        DATASETS.get(ds, f"{where}.datasets")
        if ds not in raw_pairs and "default" not in raw_pairs:
            raise UserError(f"{where}.pairs: no teacher/student pair for dataset {ds!r}; "
                            f"defined for: {', '.join(raw_pairs)}")
        key = ds if ds in raw_pairs else "default"  # `default`: any other dataset (a user's csv:PATH)
        entries = raw_pairs[key] if isinstance(raw_pairs[key], list) else [raw_pairs[key]]
        pairs[ds] = []
        for k, pair in enumerate(entries):
            pwhere = f"{where}.pairs.{key}" + (f"[{k}]" if isinstance(raw_pairs[key], list) else "")
            if NETS_KEY in pair:
                nets = pair[NETS_KEY]
                if not (isinstance(nets, list) and nets and all(isinstance(n, str) for n in nets)):
                    raise UserError(f"{pwhere}.nets: expected a list of net names (e.g. [resnet32, resnet32]), "
                                    f"got {nets!r}")
                for k, net in enumerate(nets):
                    NETS.get(net, f"{pwhere}.nets[{k}]")
                pair = {"student": nets[0], "teacher": nets[-1], **pair}
            check_keys(pair, PAIR_KEYS, pwhere, ("teacher", "student"))
            for role in ("teacher", "student", "discriminator", "sampler"):
                if role in pair:
                    NETS.get(pair[role], f"{pwhere}.{role}")
            check_keys(pair.get("params", {}), set(METHODS.names()), f"{pwhere}.params")
            pairs[ds].append({"name": pair_name(pair),
                              "where": pwhere, **pair})
        check_keys(ds_params.get(ds, {}), set(METHODS.names()) | {BUDGETS_FROM}, f"{where}.dataset_params.{ds}")
        if ds_params.get(ds, {}).get(BUDGETS_FROM, ds) not in DATASETS:
            raise UserError(f"{where}.dataset_params.{ds}.{BUDGETS_FROM}: unknown dataset "
                            f"{ds_params[ds][BUDGETS_FROM]!r}; accepted: {', '.join(DATASETS.names())}")
        by_n = n_params.get(ds, {})
        if not isinstance(by_n, dict):
            raise UserError(f"{where}.n_train_params.{ds}: expected a mapping from training-set sizes "
                            f"to method params, got {by_n!r}")
        for n, layer in by_n.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise UserError(f"{where}.n_train_params.{ds}: keys are training-set sizes >= 1, got {n!r}")
            check_keys(layer, set(METHODS.names()), f"{where}.n_train_params.{ds}.{n}")
    seed_where = "--seeds" if seeds else f"{where}.seeds"
    for s in seed_list:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise UserError(f"{seed_where}: seeds must be integers >= 0, got {s!r}")
    if len(set(seed_list)) != len(seed_list):
        raise UserError(f"{seed_where}: seed listed twice in {seed_list}")
    if isinstance(raw_n, dict):  # per dataset: KDGAN's MNIST and CIFAR-10 columns differ
        check_keys(raw_n, set(DATASETS.names()), n_where)
        n_by_ds = {ds: as_list(raw_n.get(ds, [None]), f"{n_where}.{ds}") for ds in ds_list}
    else:
        n_by_ds = {ds: as_list(raw_n, n_where) for ds in ds_list}
    for n in [n for ns in n_by_ds.values() for n in ns]:
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise UserError(f"{n_where}: expected a list of training-set sizes >= 1 "
                            f"(or null for the full set), got {n!r}")
    profile_n = prof.get("n_train", [None])  # the paper's columns: a CLI subset of them still compares
    profile_n = {n for v in (profile_n.values() if isinstance(profile_n, dict) else [profile_n])
                 for n in (v if isinstance(v, list) else [v]) if isinstance(n, (int, type(None)))}
    # names defined in any profile: an experiment's pair preference list spans profiles
    pair_names = {pair_name(p)
                  for prof_doc in profiles.values() if isinstance(prof_doc, dict)
                  for v in (prof_doc.get("pairs") or {}).values()
                  for p in (v if isinstance(v, list) else [v]) if isinstance(p, dict)}

    def resolved(method: str, variant_params: dict, ds: str, pair: dict, ctx_where: str,
                 swept: dict | None = None, n: int | None = None, arch: str | None = None,
                 swept_where: str | None = None) -> tuple:
        cls = config_class(METHODS.get(method, ctx_where), arch or pair["student"])
        fields = {f.name for f in dataclasses.fields(cls)}
        layers = [({NETS_KEY: pair[NETS_KEY]} if NETS_KEY in pair and NETS_KEY in fields else {},
                   f"{pair['where']}.nets"),
                  (variant_params or {}, f"{ctx_where}.params"),
                  (params.get(method) or {}, f"{where}.params.{method}"),
                  (ds_params.get(ds, {}).get(method) or {}, f"{where}.dataset_params.{ds}.{method}"),
                  (n_params.get(ds, {}).get(n, {}).get(method) or {},
                   f"{where}.n_train_params.{ds}.{n}.{method}"),
                  (pair.get("params", {}).get(method) or {}, f"{pair['where']}.params.{method}"),
                  (cli.get(method) or {}, f"--set {method}"),
                  (swept or {}, swept_where or f"{ctx_where}.sweep")]
        for layer, layer_where in layers:  # each layer alone, so errors point at their line
            build_config(cls, layer, layer_where)
        merged = {k: v for layer, _ in layers for k, v in layer.items()}
        if matches_paper:
            require_dataset_settings(method, cls, ds, [layers[i][0] for i in (1, 3, 4, 5)], ctx_where)
        cfg = build_config(cls, merged, ctx_where)
        return freeze(config_dict(cfg))

    def expand(method, entry, label, variant_params, swept, ds, pair, exp_id, vwhere, ns,
               sampler_params: dict) -> list[Job]:
        out = []
        split = DATASETS.get(ds).meta.get("split") == "random"  # tabular: each seed its own train/test split
        if split and "teacher_seed" in prof:
            raise UserError(f"{where}.teacher_seed: dataset {ds!r} is split into train and test rows by the "
                            "run's seed, so a teacher of another seed would have trained on this run's test "
                            "rows; remove teacher_seed")
        roles = entry.meta.get("pretrained", ())
        players = "classifier" in roles  # adversarial-label family: every player pretrained on the same n
        for seed in seed_list:
            t_seed = prof.get("teacher_seed", seed)

            def teacher_spec(n):
                if players:
                    return pretrain_spec(ds, t_seed, pair["teacher"], pair, n)
                recipe = () if is_estimator(pair["teacher"]) else (  # a forest is fitted: no recipe
                    resolved("teacher", {}, ds, pair, f"{where}.params.teacher", arch=pair["teacher"]))
                return RunSpec("teacher", ds, t_seed, pair["teacher"], recipe,
                               n_train=n if split else None)  # tabular: the teacher sees the run's rows only
            if method == "teacher":
                out += [Job(teacher_spec(n), exp_id, label, pair["name"]) for n in (ns if split else [None])]
                continue
            for n in ns:
                p = resolved(method, variant_params, ds, pair, vwhere, swept, n)
                teacher = teacher_spec(n) if entry.meta.get("needs_teacher") else None
                spec = RunSpec(method, ds, seed, pair["student"], p, teacher, n,
                               tuple(sorted((role, role_spec(role, ds, seed, t_seed, pair, n, sampler_params,
                                                             vwhere, teacher))
                                            for role in roles)))
                out.append(Job(spec, exp_id, label, pair["name"]))
        return out

    def pretrain_spec(ds: str, seed: int, arch: str, pair: dict, n: int | None) -> RunSpec:
        return RunSpec("pretrain", ds, seed, arch, resolved("pretrain", {}, ds, pair,
                                                            f"{where}.params.pretrain", n=n, arch=arch), n_train=n)

    def role_spec(role: str, ds: str, seed: int, t_seed: int, pair: dict, n: int | None,
                  sampler_params: dict, vwhere: str, teacher: RunSpec | None) -> RunSpec:
        if role == "generator":  # P:dfad §4.3: the generator of the DFAD run with the same settings
            return RunSpec("dfad", ds, seed, pair["student"], resolved("dfad", {}, ds, pair, f"{where}.params.dfad", n=n),
                           teacher, n)
        if role == "classifier":  # the runs differ in C's initialisation (P:kdgan §4.1)
            return pretrain_spec(ds, seed, pair["student"], pair, n)
        if role == "discriminator":
            return pretrain_spec(ds, t_seed + DISCRIMINATOR_SEED, pair.get("discriminator", pair["teacher"]),
                                 pair, n)
        if role == "sampler":  # GAN-TSC: the AC-GAN trained on the run's own training rows
            if "sampler" not in pair:
                raise UserError(f"{pair['where']}: the pair has no 'sampler' (an AC-GAN net, e.g. acgan_tabular), "
                                "which this method draws its synthetic rows from")
            params = resolved("acgan", {}, ds, pair, f"{where}.params.acgan", swept=sampler_params, n=n,
                              arch=pair["sampler"], swept_where=f"{vwhere}.sampler")  # the variant's point
            if not dict(params)["class_only_epochs"]:
                return RunSpec("acgan", ds, seed, pair["sampler"], params, n_train=n)
            # P:gantsc §5's inferior GAN continues the well-trained one (the same GAN without them)
            base = RunSpec("acgan", ds, seed, pair["sampler"], freeze({**dict(params), "class_only_epochs": 0}),
                           n_train=n)
            return RunSpec("acgan", ds, seed, pair["sampler"], params, n_train=n, pretrained=(("init", base),))
        raise UserError(f"{pair['where']}: unknown pretrained role {role!r}; accepted: classifier, discriminator, "
                        "sampler, generator")

    experiments = {}
    jobs: list[Job] = []
    for i, exp in enumerate(as_list(doc["experiments"], f"{path}: experiments")):
        ewhere = f"{path}: experiments[{i}]"
        check_keys(exp, EXPERIMENT_KEYS, ewhere, ("id", "methods"))
        if exp["id"] in experiments:
            raise UserError(f"{ewhere}.id: experiment id {exp['id']!r} is used twice; ids must be unique")
        experiments[exp["id"]] = exp
        if isinstance(exp.get("figure"), dict):
            check_keys(exp["figure"], FIGURE_KEYS, f"{ewhere}.figure")
            if exp["figure"].get("kind", "curves") not in FIGURE_KINDS:
                raise UserError(f"{ewhere}.figure.kind: unknown kind {exp['figure']['kind']!r}; "
                                f"accepted: {', '.join(FIGURE_KINDS)}")
            if exp["figure"].get("kind") == "scatter" and "x" not in exp["figure"]:
                raise UserError(f"{ewhere}.figure: a scatter needs 'x', the summary column on its x-axis")
        for name in exp.get("pairs") or []:
            if name not in pair_names:
                raise UserError(f"{ewhere}.pairs: unknown pair {name!r}; defined: {', '.join(sorted(pair_names))}")
        exp_n = {ds: experiment_sizes(exp, ds, profile, n_by_ds[ds], f"{ewhere}.n_train") for ds in ds_list}
        exp_datasets = [d for d in ds_list if d in per_profile(exp.get("datasets", ds_list), profile,
                                                                 f"{ewhere}.datasets")]
        if only and exp["id"] not in only:
            continue  # --experiment: validated above, not expanded
        if not exp_datasets:
            continue  # none of the datasets this experiment is about was asked for
        for j, variant in enumerate(as_list(exp["methods"], f"{ewhere}.methods")):
            vwhere = f"{ewhere}.methods[{j}]"
            check_keys(variant, VARIANT_KEYS, vwhere, ("method",))
            for name in variant.get("pairs") or []:
                if name not in pair_names:
                    raise UserError(f"{vwhere}.pairs: unknown pair {name!r}; "
                                    f"defined: {', '.join(sorted(pair_names))}")
            method = variant["method"]
            entry = METHODS.get(method, f"{vwhere}.method")
            if "sampler" in variant and not ("sampler" in entry.meta.get("pretrained", ())
                                             and isinstance(variant["sampler"], dict)):
                raise UserError(f"{vwhere}.sampler: a mapping of AC-GAN params (e.g. {{class_only_epochs: 10}}) "
                                f"for a method that samples from an AC-GAN; {method!r} "
                                + ("does" if "sampler" in entry.meta.get("pretrained", ()) else "does not"))
            label = variant.get("label", entry.meta.get("label", method))
            if not in_profile(variant, profile, vwhere) or not in_profile(exp, profile, ewhere):
                continue
            variant_datasets = per_profile(variant.get("datasets", exp_datasets), profile, f"{vwhere}.datasets")
            for ds in [d for d in exp_datasets if d in variant_datasets]:
                for pair in select_pairs(pairs[ds], exp.get("pairs"), ewhere):
                    if "pairs" in variant and pair["name"] not in variant["pairs"]:
                        continue  # e.g. MAD Table 1 prints DFAD for ResNet pairs only
                    for var_label, swept in sweep(label, variant, vwhere):
                        jobs += expand(method, entry, var_label, variant.get("params", {}), swept,
                                       ds, pair, exp["id"], vwhere, exp_n[ds], variant.get("sampler") or {})

    unknown = sorted(set(only or []) - set(experiments))
    if unknown:
        raise UserError(f"--experiment: unknown experiment(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(experiments)}")
    tables = []
    for i, t in enumerate(doc.get("tables", [])):
        twhere = f"{path}: tables[{i}]"
        check_keys(t, TABLE_KEYS, twhere, ("id", "experiment"))
        if any(t["id"] == other.id for other in tables):
            raise UserError(f"{twhere}.id: table id {t['id']!r} is used twice; ids must be unique")
        if t["experiment"] not in experiments:
            raise UserError(f"{twhere}.experiment: unknown experiment {t['experiment']!r}; "
                            f"accepted: {', '.join(experiments)}")
        if t.get("reference") is not None:
            check_keys(t["reference"], REFERENCE_KEYS, f"{twhere}.reference", ("paper", "table"))
        if t.get("gain") is not None:
            check_keys(t["gain"], {"over", "metrics"}, f"{twhere}.gain", ("over",))
        if "metrics" in t and not (isinstance(t["metrics"], dict) and t["metrics"]):
            raise UserError(f"{twhere}.metrics: expected a mapping of summary column -> header "
                            f"(e.g. {{p_at_3: P@3}}), got {t['metrics']!r}")
        tables.append(Table(**t))
        if t.get("gain") is not None and t["gain"]["over"] not in row_labels(experiments[t["experiment"]], twhere):
            raise UserError(f"{twhere}.gain.over: {t['gain']['over']!r} is not a row of the table; rows: "
                            f"{', '.join(sorted(row_labels(experiments[t['experiment']], twhere)))}")
        if t.get("average") is not None and not isinstance(t["average"], str):
            raise UserError(f"{twhere}.average: the name of the averaged column (e.g. Average), got {t['average']!r}")
    claims = []
    table_ids = [t.id for t in tables]
    for i, c in enumerate(doc.get("claims", [])):
        cwhere = f"{path}: claims[{i}]"
        c = check_keys(c, {"claim", "table", "source", "n_train", "metric"}, cwhere, ("claim", "table"))
        if "n_train" in c:  # a claim about some training sizes only (KDGAN: "at small n")
            as_list(c["n_train"], f"{cwhere}.n_train")
        if c["table"] not in table_ids:
            raise UserError(f"{cwhere}.table: unknown table {c['table']!r}; accepted: {', '.join(table_ids)}")
        claim = parse_claim(c["claim"], f"{cwhere}.claim")
        table = next(t for t in tables if t.id == c["table"])
        rows = row_labels(experiments[table.experiment], cwhere)
        headers = [h for _, h in table.metric_columns() if h]
        if "metric" in c and c["metric"] not in headers:
            raise UserError(f"{cwhere}.metric: {c['metric']!r} is not a metric header of table {table.id!r}; "
                            f"headers: {', '.join(headers) or 'none (the table shows one metric)'}")
        for side in (claim.lhs, claim.rhs):
            if side not in rows:
                raise UserError(f"{cwhere}: claim {c['claim']!r} names {side!r}, which is not a row "
                                f"of table {table.id!r}; rows: {', '.join(sorted(rows))}")
        claims.append(c)
    slurm = check_slurm(doc.get("slurm", {}), f"{path}: slurm")
    notes = {key: [str(x) for x in as_list(prof[key], f"{where}.{key}")] if key in prof else []
             for key in ("departures", "choices")}
    notes["departures"] += [f"set on the command line: --set {item}" for item in overrides or []]
    written_for = as_list(prof["datasets"], f"{where}.datasets")
    borrowed = {ds: ds_params[ds][BUDGETS_FROM] if BUDGETS_FROM in ds_params.get(ds, {}) else ", ".join(written_for)
                for ds in ds_list if BUDGETS_FROM in ds_params.get(ds, {})
                or (ds not in written_for and ds not in ds_params)}
    notes["notes"] = [f"{ds}: the {profile} profile's budgets were set for {source}, not measured on {ds} ({path.name} "
                      "gives it no settings of its own): a teacher may stop before it plateaus, a method before "
                      "it converges" for ds, source in borrowed.items()]
    return Plan(doc["name"], profile, path, list(doc.get("papers", [])), jobs, tables, claims,
                slurm, bool(prof.get("matches_paper", False)) and set(ds_list) <= set(prof["datasets"])
                and {n for ns in n_by_ds.values() for n in ns} <= profile_n, experiments,
                notes["departures"], notes["choices"], notes["notes"],
                parse_threads(prof.get("threads"), f"{where}.threads"))
