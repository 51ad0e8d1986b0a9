"""Synthetic-data compression, GAN-TSC's family (P:gantsc §§2-3; methods_spec §§11-12).

A teacher labels a *compression set* and a student of any kind is fitted to those labels
(teacher-student compression, TSC). The set is the training rows (``train``), rows from
a sampler (``synthetic``: an AC-GAN, MUNGE), or both pooled (``mixture``), with
``synthetic_factor`` x n synthetic rows (P:gantsc §3: n_fake = 9 n_real). A method file
supplies only its sampler; this module builds the set, labels it, fits the student and
scores it.

Forest students (P:gantsc §3) are regression forests fitted to the teacher's P(y = 1 | x);
``targets: labels`` fits them to 0/1 labels instead (the paper's "Student Only" on the
training rows, and App. A.1's GAN-assisted supervised learning with the sampler's classes).
``acc`` is the dataset's metric (test AUC or accuracy; ``metric`` names it).
Each run also times the student's and the teacher's predictions on ``prediction_rows``
test rows on one core (Fig. 1f: speed-up against excess error).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench.context import RunContext
from bench.errors import UserError
from bench.nets.forests import is_estimator, positive_scores

DATA = ("train", "synthetic", "mixture")
TARGETS = ("teacher", "labels")
Sampler = Callable[[int], tuple[np.ndarray, np.ndarray]]
"""``sample(n)`` -> (n rows, their classes): what a synthetic-data method contributes."""


@dataclass(frozen=True)
class ForestStudent:
    """The student forest and how it is timed (P:gantsc §3, Fig. 1)."""

    trees: int = 1
    """Trees of the student regression forest: P:gantsc Fig. 1 plots 1 to 20 (the code: 1, 5,
    10, 15, 20); App. A.2 and the MUNGE comparison use a single tree."""
    prediction_rows: int = 30_000
    """P:gantsc §3: throughput is "the time needed to compute predictions for 30,000 test
    examples using one core" (the test rows repeated to that count when fewer)."""

    def __post_init__(self):
        if self.trees < 1 or self.prediction_rows < 1:
            raise ValueError("trees and prediction_rows must be at least 1")


@dataclass(frozen=True)
class SyntheticSet(ForestStudent):
    """A compression set that draws on a sampler."""

    data: str = "synthetic"
    """train | synthetic | mixture (P:gantsc §3: "TSC using training data only, GAN data only
    or a mixture of training and GAN data")."""
    synthetic_factor: int = 9
    """P:gantsc §3: "We generate n_fake = 9 n_real GAN datapoints for the compression set"."""

    def __post_init__(self):
        super().__post_init__()
        if self.data not in DATA:
            raise ValueError(f"data must be one of {', '.join(DATA)}, got {self.data!r}")
        if self.synthetic_factor < 1:
            raise ValueError("synthetic_factor must be at least 1")


def compression_set(x: np.ndarray, y: np.ndarray, data: str, factor: int,
                    sample: Sampler | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, classes) of the compression set: the training rows, factor x n sampled rows, or both."""
    parts = [(x, y)] if data in ("train", "mixture") else []
    if data in ("synthetic", "mixture"):
        if sample is None:
            raise RuntimeError(f"compression set {data!r} needs a sampler")
        parts.append(sample(factor * len(x)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def prediction_seconds(model, x: np.ndarray, rows: int) -> float:
    """Seconds ``model`` takes to score ``rows`` rows (``x`` tiled), one core, one pass."""
    tiled = np.resize(x, (rows, x.shape[1]))
    start = time.perf_counter()
    positive_scores(model, tiled)
    return time.perf_counter() - start


def compress(ctx: RunContext, cfg: ForestStudent, targets: str, data: str = "train", factor: int = 0,
             sample: Sampler | None = None) -> dict[str, float]:
    """Fit ``ctx.spec.student`` (a forest) to the compression set's targets; score and time it."""
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {targets!r}")
    if not is_estimator(ctx.spec.student) or ctx.data.num_classes != 2:
        raise UserError(f"{ctx.spec.method}: forest TSC needs a scikit-learn student and binary data (it fits "
                        f"P(y = 1 | x)); got student {ctx.spec.student!r} on {ctx.data.num_classes} classes")
    x_train, y_train = ctx.data.x_train.cpu().numpy(), ctx.data.y_train.cpu().numpy()
    x, classes = compression_set(x_train, y_train, data, factor, sample)
    teacher = ctx.teacher() if targets == "teacher" else None
    target = positive_scores(teacher, x) if teacher is not None else classes.astype(np.float64)
    student = ctx.net(n_estimators=cfg.trees)
    student.fit(x, target)
    metrics = ctx.test_metrics(student)
    x_test = ctx.data.x_test.cpu().numpy()
    out = {"acc": metrics["acc"], "auc": metrics["auc"], "accuracy": metrics["accuracy"],
           "compression_rows": len(x), "predict_s": prediction_seconds(student, x_test, cfg.prediction_rows)}
    if teacher is not None:  # Fig. 1f: speed-up and excess error against this run's teacher
        teacher_s = prediction_seconds(teacher, x_test, cfg.prediction_rows)
        out.update(teacher_predict_s=teacher_s, speedup=teacher_s / out["predict_s"],
                   excess_error=ctx.extra["teacher_acc"] - out["acc"])
    ctx.extra["metric"] = ctx.metric
    return out
