"""What a run costs, measured without running it: a probe runs a few of its steps.

A probe executes the run's own method with a ``ProbeContext``: the same config, nets,
optimizers and loop, but ``ctx.steps`` stops after ``warmup + measure`` steps, and the
teacher and other dependencies are freshly built nets of the right architecture (their
weights do not change the cost). The run's data is used when it is on disk; otherwise a
stand-in of the dataset's official size and shape (one random image broadcast over every
index: no memory, the same batches' cost). Evaluations are timed apart from the steps.

The cost model: ``total_steps * step_s + evaluations * eval_s``, evaluations being the
config's ``epochs`` (divided by ``eval_every`` where the method has it). It ignores
start-up, checkpoints and, for streamed datasets, image decoding. Probes are cached per
distinct configuration (the spec without its seed), code, threads and device, under
``<results>/probes/``: ``--dry-run`` reads them, ``--dry-run --probe`` and
``python -m tools.speed`` make them.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from bench.config import build_config, config_class
from bench.context import RunContext
from bench.data import Data, SegmentationData
from bench.data.augment import NONE
from bench.errors import UserError
from bench.results.fingerprint import code_fingerprint, numerics
from bench.nets.build import build_classifier
from bench.nets.forests import is_estimator
from bench.registry import DATASETS, METHODS, load_plugins
from bench.spec import RunSpec
from bench.results.store import Store, atomic_write_text


class ProbeDone(Exception):
    """Raised out of a method's loop once the probe has timed its steps."""


class NotProbeable(Exception):
    """A run whose cost a probe cannot measure (e.g. it reads another run's output)."""


@dataclass(frozen=True)
class Probe:
    """One configuration's measured cost (seconds on ``device`` with ``threads`` threads)."""

    total_steps: int
    step_s: float
    eval_s: float
    evaluations: int
    flops_per_step: float
    images_per_step: int
    threads: int
    device: str
    data: str
    """'real' (the dataset on disk) or 'stand-in' (official size and shape, random pixels)."""

    @property
    def estimate_s(self) -> float:
        steps = self.total_steps * self.step_s if self.total_steps else 0.0  # 0 steps: evaluated only
        return steps + self.evaluations * (self.eval_s if self.eval_s == self.eval_s else 0.0)


class ProbeContext(RunContext):
    """A RunContext that times ``measure`` steps after ``warmup`` and then stops the run."""

    def __init__(self, spec: RunSpec, folder: Path, data_root: Path, device: torch.device,
                 warmup: int = 1, measure: int = 2):
        super().__init__(spec, Store(folder / "store"), data_root, device, show_progress=False,
                         checkpoint_seconds=math.inf, folder=folder)
        self.warmup, self.measure = warmup, measure
        self.total_steps = 0
        self.step_s = math.nan
        self.eval_s: list[float] = []
        self.in_window_eval_s = 0.0
        self.last_net: nn.Module | None = None
        self.data_kind = "real"

    @property
    def data(self) -> Data:
        if self._data is None:
            try:
                return super().data
            except UserError:
                self._data = stand_in(self.spec, self.input_size)
                self.data_kind = "stand-in"
        return self._data

    def alternative_data(self, name: str) -> Data:
        try:
            return super().alternative_data(name)
        except UserError:
            return stand_in(self.spec, self.input_size, name)

    def net(self, arch: str | None = None, **kwargs):
        self.last_net = super().net(arch, **kwargs)
        return self.last_net

    def pretrained(self, role: str) -> nn.Module:
        dep = dict(self.spec.roles())[role]
        if is_estimator(dep.student):
            raise NotProbeable(f"its {role} is a fitted scikit-learn model")
        model = build_classifier(dep.student, self.data.num_classes, self.data.input_shape[0], dep.seed)
        return model.to(self.device)

    def dependency_file(self, role: str, name: str) -> Path:
        raise NotProbeable(f"it reads {name} of its {role} run")

    def evaluate(self, model) -> float:
        started = time.perf_counter()
        value = super().evaluate(model)
        self.eval_s.append(time.perf_counter() - started)
        return value

    def steps(self, total: int, desc: str | None = None) -> Iterator[int]:
        self.total_steps = total
        evals_before = 0.0
        started = 0.0
        for step in range(min(total, self.warmup + self.measure) + 1):
            if step == self.warmup:
                started, evals_before = time.perf_counter(), sum(self.eval_s)
            if step == min(total, self.warmup + self.measure):
                timed = step - min(step, self.warmup)
                spent = time.perf_counter() - started - (sum(self.eval_s) - evals_before)
                self.step_s = spent / timed if timed else math.nan
                raise ProbeDone
            yield step


def stand_in(spec: RunSpec, size: int, name: str | None = None) -> Data:
    """Random data of ``name``'s (default: the run's dataset's) official size and shape."""
    name = name or spec.dataset
    meta = DATASETS.get(name).meta
    sizes = meta.get("official_sizes")
    if not sizes or not size:
        raise NotProbeable(f"dataset {name!r} is not on disk and declares no official size")
    n_train = (spec.n_train or sizes[0]) if name == spec.dataset else sizes[0]
    n_test = sizes[1]
    channels, classes = int(meta.get("channels") or 3), max(int(meta["num_classes"]), 1)
    mean, std = tuple(meta.get("mean") or (0.0,) * channels), tuple(meta.get("std") or (1.0,) * channels)
    one = torch.randn(1, channels, size, size)
    if meta.get("task") == "segmentation":  # whole test images: twice the training crops
        side = 2 * size
        image = torch.randn(1, channels, side, side)
        masks = torch.zeros(1, side, side, dtype=torch.long)
        return SegmentationData(name, image.expand(n_train, -1, -1, -1), masks.expand(n_train, -1, -1),
                                image.expand(n_test, -1, -1, -1), masks.expand(n_test, -1, -1), classes, mean, std,
                                meta["augment"])
    return Data(name, one.expand(n_train, -1, -1, -1), torch.arange(n_train) % classes,
                one.expand(n_test, -1, -1, -1), torch.arange(n_test) % classes, classes, mean, std,
                meta.get("augment", NONE))


def images_per_step(config: dict[str, Any]) -> int:
    """Images a step draws: a batch, or in a data-free iteration one per student and
    generator step."""
    batch = int(config.get("batch_size") or 0)
    steps = int(config.get("student_steps") or 0) + int(config.get("generator_steps") or 0)
    if "student_steps" in config and "generator_steps" not in config:  # DFAD: 5 student steps + 1 generator step
        steps += 1
    return batch * max(steps, 1)


def configuration(spec: RunSpec) -> dict:
    """What a probe measures: the spec without its seed (seeds of one configuration cost alike)."""
    return {**spec.to_dict(), "seed": None}


def probe_key(spec: RunSpec, threads: int, device: str) -> str:
    """A configuration's key: the spec without its seed, the code its run executes, threads, device."""
    blob = {**configuration(spec), "code": code_fingerprint(spec), "threads": threads,
            "device": device, "cpu": platform.processor() or platform.machine()}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def probe_path(results: str | Path, spec: RunSpec, threads: int, device: str) -> Path:
    return Path(results) / "probes" / f"{probe_key(spec, threads, device)}.json"


def cached_probe(results: str | Path, spec: RunSpec, threads: int, device: str) -> Probe | None:
    try:
        return Probe(**json.loads(probe_path(results, spec, threads, device).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def probe(spec: RunSpec, data_root: str | Path, threads: int = 1, device: str = "cpu", warmup: int = 1,
          measure: int = 2, count_flops: bool = True) -> Probe:
    """Time ``measure`` steps of ``spec`` (after ``warmup``), then one with torch's FLOP counter."""
    load_plugins()
    pinned = numerics(threads, device)
    entry = METHODS.get(spec.method)
    cfg = build_config(config_class(entry, spec.student), spec.config, f"probe of {spec.method}")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ProbeContext(spec, Path(tmp), Path(data_root), torch.device(device), warmup, measure)
        torch.manual_seed(spec.seed)
        try:
            entry.obj(ctx, cfg)
        except ProbeDone:
            pass
        flops = math.nan
        if count_flops and math.isfinite(ctx.step_s):
            from torch.utils.flop_counter import FlopCounterMode

            counter_ctx = ProbeContext(spec, Path(tmp) / "flops", Path(data_root), torch.device(device), 0, 1)
            counter_ctx._data = ctx._data
            with FlopCounterMode(display=False) as counter:
                try:
                    entry.obj(counter_ctx, cfg)
                except ProbeDone:
                    pass
            flops = float(counter.get_total_flops())
        if not ctx.eval_s and isinstance(ctx.last_net, nn.Module):  # no epoch ended: time one evaluation
            ctx.evaluate(ctx.last_net)
        eval_s = ctx.eval_s[0] if ctx.eval_s else math.nan
    config = spec.config
    evaluations = max(1, int(config.get("epochs", 1)) // int(config.get("eval_every", 1)))
    return Probe(ctx.total_steps, ctx.step_s, eval_s, evaluations, flops, images_per_step(config),
                 pinned["threads"], device, ctx.data_kind)


def probe_cached(spec: RunSpec, results: str | Path, data_root: str | Path, threads: int = 1,
                 device: str = "cpu") -> Probe:
    """The cached probe of ``spec``'s configuration, or a new one (then cached)."""
    found = cached_probe(results, spec, threads, device)
    if found is not None:
        return found
    result = probe(spec, data_root, threads, device)
    path = probe_path(results, spec, threads, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(result), indent=2))
    return result
