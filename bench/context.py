"""RunContext: everything a method needs besides its config, and resumable loops.

A method asks the context for its data, teacher, student and generators, logs its
curve through it, and iterates ``for step in ctx.steps(total)``. The context saves
a checkpoint of every tracked object (nets, optimizers, schedulers), all RNG states,
the step counter and the curve every few minutes and on SIGTERM/SIGUSR2, and
restores it before the first step, so a killed or preempted run continues where it
stopped.
"""
from __future__ import annotations

import math
import os
import pickle
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from bench.data import Data, SegmentationData, load_data
from bench.errors import CorruptCheckpoint, Divergence, Preempted, UserError
from bench.results.fingerprint import data_fingerprint, file_digest
from bench.metrics import segmentation_metrics, streamed_accuracy, test_metrics
from bench.nets import build_classifier
from bench.nets.build import init_seed
from bench.nets.forests import build_estimator, is_estimator
from bench.registry import DATASETS, NETS
from bench.spec import RunSpec
from bench.results.store import WALL_COLUMN, Store, atomic_torch_save, atomic_write_bytes, atomic_write_csv

ESTIMATOR_FILE = "model.pkl"
"""A fitted scikit-learn estimator, pickled (a torch net's weights go to model.pt)."""
STOP = threading.Event()  # set by the runner's SIGTERM/SIGUSR2 handler
STOP_SIGNAL: list[int] = []  # the signal that set STOP (SIGUSR2 asks a SLURM job to requeue)


def checkpoint_seconds_from_env() -> float:
    """``$BENCH_CHECKPOINT_SECONDS`` (default 120): seconds between periodic checkpoints."""
    text = os.environ.get("BENCH_CHECKPOINT_SECONDS", "120")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise UserError(f"BENCH_CHECKPOINT_SECONDS={text!r} is not a number of seconds >= 0 "
                        "(e.g. 120; 0 checkpoints after every step)")
    return value


class RunContext:
    """What a method sees of its run. ``folder`` is the attempt's directory."""

    def __init__(self, spec: RunSpec, store: Store, data_root: Path, device: torch.device,
                 download: bool = False, show_progress: bool = True,
                 checkpoint_seconds: float | None = None, folder: Path | None = None):
        self.spec = spec
        self.store = store
        self.dir = Path(folder) if folder else store.run_dir(spec.run_id)
        self.data_root = Path(data_root)
        self.device = device
        self.download = download
        self.show_progress = show_progress
        self.checkpoint_seconds = (checkpoint_seconds_from_env() if checkpoint_seconds is None
                                   else checkpoint_seconds)
        self.started = time.monotonic()
        self.elapsed_before = 0.0  # seconds spent by earlier sessions of this attempt
        self.datasets: dict[str, str] = {}  # dataset name -> fingerprint of what was loaded
        self.files: dict[str, str] = {}  # other input files (weights) -> digest of what was read
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.curve: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}  # small resumable scalars a method keeps
        self.extra: dict[str, Any] = {}  # columns added to the summary (teacher acc, ...)
        self._tracked: dict[str, Any] = {}
        self._data: Data | None = None

    # ----------------------------------------------------------------- data and nets
    @property
    def input_size(self) -> int:
        size = NETS.get(self.spec.student).meta["input_size"]
        return 0 if size is None else int(size)  # None: tabular nets take rows as they are

    @property
    def data(self) -> Data:
        if self._data is None:
            cfg = self.spec.config  # data choices a method config may carry (DataChoice)
            self._data = load_data(self.spec.dataset, self.data_root, self.input_size,
                                   n_train=self.spec.n_train, seed=self.spec.seed,
                                   download=self.download, subset=cfg.get("train_subset", "stratified"),
                                   normalise=cfg.get("normalise", "dataset")).to(self.device)
            self._fingerprint(self.spec.dataset)
            self.extra.update(train_size=len(self._data.y_train), test_size=len(self._data.y_test))
            if self._data.departures:
                self.extra["data_departures"] = " | ".join(self._data.departures)
        return self._data

    def alternative_data(self, name: str) -> Data:
        """Another dataset shaped and normalised like ``ctx.data`` (KD-REL / KD-UNR)."""
        data = load_data(name, self.data_root, self.input_size, normalise_as=self.data,
                         seed=self.spec.seed, download=self.download).to(self.device)
        self._fingerprint(name)
        return data

    def _fingerprint(self, name: str) -> None:
        self.datasets[name] = data_fingerprint(name, str(self.data_root), self.download)

    def record_file(self, path: Path) -> None:
        """Record an input file (a teacher's weights) by digest: if it changes, this run is stale."""
        self.files[str(Path(path).resolve())] = file_digest(path)

    @property
    def wall_time_s(self) -> float:
        """Seconds spent on this attempt, over every session that resumed it."""
        return self.elapsed_before + time.monotonic() - self.started

    def net(self, arch: str | None = None, **kwargs):
        """A fresh classifier whose initial weights depend only on (arch, seed); for a
        scikit-learn entry (``kind: estimator``) an unfitted estimator whose random state
        depends only on (arch, seed), built with ``kwargs`` (a student forest's tree count)."""
        arch = arch or self.spec.student
        if is_estimator(arch):
            return build_estimator(arch, self.spec.seed, **kwargs)
        channels = self.data.input_shape[0]
        return build_classifier(arch, self.data.num_classes, channels, self.spec.seed).to(self.device)

    def generator_net(self, arch: str, **kwargs) -> nn.Module:
        """A registered generator, its initial weights fixed by (arch, seed)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed(arch, self.spec.seed))
            return NETS.get(arch).obj(**kwargs).to(self.device)

    def teacher(self) -> nn.Module:
        """The frozen, eval-mode teacher trained by this run's teacher run."""
        model = self.pretrained("teacher")
        return model.eval().requires_grad_(False) if isinstance(model, nn.Module) else model

    def dependency(self, role: str) -> RunSpec:
        """This run's ``role`` dependency, published and checksum verified; its run id and
        attempt are recorded (a rebuilt dependency makes this run stale)."""
        deps = dict(self.spec.roles())
        if role not in deps:
            raise RuntimeError(f"method {self.spec.method!r} needs a {role} but the spec has none")
        dep = deps[role]
        status, problem = self.store.verify(dep.run_id)
        if status != "done":
            raise RuntimeError(f"{role} run {dep.run_id} is {status} {problem}".strip())
        self.extra[f"{role}_run_id"] = dep.run_id
        self.extra[f"{role}_attempt"] = int(self.store.summary(dep.run_id)["attempt"])
        return dep

    def dependency_file(self, role: str, name: str) -> Path:
        """File ``name`` of the ``role`` dependency's published attempt (see ``dependency``)."""
        return self.store.artefact(self.dependency(role).run_id, name)

    def pretrained(self, role: str) -> nn.Module:
        """The published model of this run's ``role`` dependency (``teacher`` or a role of
        ``spec.pretrained``; see ``dependency``), in train mode: a method that trains it
        further (KDGAN's teacher, classifier and discriminator) starts from these weights.
        Its test accuracy is recorded too."""
        dep = self.dependency(role)
        if is_estimator(dep.student):
            with open(self.store.artefact(dep.run_id, ESTIMATOR_FILE), "rb") as fh:
                model = pickle.load(fh)  # written by save_model of a run of this store, checksum verified
        else:
            model = build_classifier(dep.student, self.data.num_classes, self.data.input_shape[0], dep.seed)
            path = self.store.artefact(dep.run_id, "model.pt")
            model.load_state_dict(torch.load(path, map_location=self.device))
            model.to(self.device)
        self.extra[f"{role}_acc"] = self.evaluate(model)
        return model

    def save_model(self, model, name: str = "model.pt") -> None:
        """Publish a torch net's weights (``name``, model.pt by default) or a fitted
        estimator (model.pkl)."""
        if isinstance(model, nn.Module):
            atomic_torch_save(self.dir / name, model.state_dict())
        else:
            atomic_write_bytes(self.dir / ESTIMATOR_FILE, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))

    # ----------------------------------------------------------------- metrics
    def evaluate(self, model) -> float:
        """The test set's primary metric: top-1 accuracy, P@3 on tag data, the dataset's
        metric (AUC or accuracy) on tabular data, mIoU on segmentation data (eval mode; the model's mode is restored)."""
        return self.test_metrics(model)["acc"]

    @property
    def metric(self) -> str:
        """What the dataset is scored by: ``accuracy`` unless it declares ``auc`` (MAGIC)."""
        return DATASETS.get(self.spec.dataset).meta.get("metric", "accuracy")

    def test_metrics(self, model) -> dict[str, float]:
        """``acc`` (see ``evaluate``) and, on tag data, KDGAN Table 2's ranking metrics;
        on tabular data ``auc`` and ``accuracy``; on segmentation data ``acc`` is the
        mIoU, with ``miou`` and ``pixel_acc``."""
        if isinstance(self.data, SegmentationData):  # mIoU over every test pixel
            metrics = segmentation_metrics(model, self.data.test_batches(), self.data.num_classes)
            return {"acc": metrics["miou"], **metrics}
        if getattr(self.data, "streaming", False):  # images decoded per batch: top-1 accuracy only
            return {"acc": streamed_accuracy(model, self.data.test_batches())}
        return test_metrics(model, self.data.x_test, self.data.y_test, self.metric, self.data.num_classes)

    def log(self, step: int, **metrics: float) -> None:
        """Append one curve row and rewrite curve.csv atomically; non-finite -> Divergence.
        Each row also records the run's wall time so far (``wall_s``), the x-axis on which
        methods whose "epochs" differ can be compared."""
        for key, value in metrics.items():
            if not math.isfinite(float(value)):
                raise Divergence(f"{key} became {value} at step {step}")
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        row.setdefault(WALL_COLUMN, round(self.wall_time_s, 3))  # cost comparable across methods
        self.curve.append(row)
        atomic_write_csv(self.dir / "curve.csv", self.curve)

    def accuracy_summary(self) -> dict[str, float]:
        """acc_best (max over evaluations; DFAD/DAFL/KDGAN protocol) and acc_last."""
        accs = [row["acc"] for row in self.curve if "acc" in row]
        if not accs:
            raise RuntimeError("the method logged no 'acc' value")
        return {"acc_best": max(accs), "acc_last": accs[-1]}

    # ----------------------------------------------------------------- resumable loop
    def track(self, **objects: Any) -> None:
        """Register objects with state_dict()/load_state_dict() to checkpoint."""
        self._tracked.update(objects)

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    def save_checkpoint(self, next_step: int) -> None:
        atomic_torch_save(self.checkpoint_path, {
            "next_step": next_step,
            "objects": {k: v.state_dict() for k, v in self._tracked.items()},
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state(), "generator": self.generator.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
            "curve": self.curve, "state": self.state, "elapsed_s": self.wall_time_s,
        })

    def _restore(self) -> int:
        if not self.checkpoint_path.exists():
            return 0
        try:
            ckpt = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
            for key, obj in self._tracked.items():
                obj.load_state_dict(ckpt["objects"][key])
        except Exception as exc:  # garbage, truncated, or from other nets: start a new attempt
            raise CorruptCheckpoint(f"{self.checkpoint_path} cannot be restored "
                                    f"({type(exc).__name__}: {str(exc)[:120]})") from exc
        rng = ckpt["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        self.generator.set_state(rng["generator"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.curve = ckpt["curve"]
        self.state = ckpt["state"]
        self.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        self.started = time.monotonic()
        atomic_write_csv(self.dir / "curve.csv", self.curve)
        print(f"run {self.spec.run_id}: resuming at step {ckpt['next_step']} from {self.checkpoint_path}",
              file=sys.stderr, flush=True)
        return int(ckpt["next_step"])

    def steps(self, total: int, desc: str | None = None) -> Iterator[int]:
        """Yield step indices from the last checkpoint to ``total``, checkpointing on the way."""
        start = self._restore()
        last_save = time.monotonic()
        bar = tqdm(total=total, initial=start, desc=desc or self.spec.method, leave=False,
                   disable=not (self.show_progress and sys.stderr.isatty()), dynamic_ncols=True)
        try:
            for step in range(start, total):
                yield step
                bar.update(1)
                if STOP.is_set():
                    self.save_checkpoint(step + 1)
                    raise Preempted(f"stopped by signal after step {step + 1}/{total}")
                if time.monotonic() - last_save >= self.checkpoint_seconds and step + 1 < total:
                    self.save_checkpoint(step + 1)
                    last_save = time.monotonic()
        finally:
            bar.close()

    def clear_checkpoint(self) -> None:
        if self.checkpoint_path.exists():
            self.checkpoint_path.unlink()
