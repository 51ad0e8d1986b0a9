"""Synthetic-data compression, GAN-TSC's family (P:gantsc §§2-4; methods_spec §§11-12).

A teacher labels a *compression set* and a student of any kind learns those labels
(teacher-student compression, TSC). A method file supplies only its sampler (an AC-GAN,
MUNGE, none); this module trains the student, whichever kind it is:

- a scikit-learn forest (``compress``, §3) is fitted once to a fixed set: the training rows
  (``train``), ``synthetic_factor`` x n sampled rows (``synthetic``; n_fake = 9 n_real), or
  both pooled (``mixture``);
- a network (``distil``, §4) trains for epochs over the training set, each batch replaced
  by a sampled batch with probability ``p_fake`` (GAN data "produced in real time during the
  stochastic optimization"), with L2 logit matching (Ba & Caruana) or Hinton's
  alpha T^2 KL + (1 - alpha) CE; a sampled batch's labels are the classes it was drawn for.

Samplers drawing on an AC-GAN (GAN-TSC, its supervised control, the TSC Score) share
``acgan_sampler``: the run's ``sampler`` dependency, sampled as ``GANSampling`` says.

A method registers one config per student kind (``config={"estimator": ..., "classifier":
...}``, bench/config.config_class) and calls ``train_student``.

Forest students (P:gantsc §3) are regression forests fitted to the teacher's P(y = 1 | x)
(with more classes, beyond the paper, to its class probabilities, one output per class);
``targets: labels`` fits them to the (one-hot) labels instead (the paper's "Student Only" on the training rows, and App. A.1's
GAN-assisted supervised learning with the sampler's classes). ``acc`` is the dataset's
metric (test AUC or accuracy; ``metric`` names it); both are reported.
Each run also times the student's and the teacher's predictions on ``prediction_rows``
test rows on one core (Fig. 1f: speed-up against excess error).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.errors import UserError
from bench.losses import hinton_kd, l2_logits
from bench.metrics import accuracy
from bench.nets.forests import class_scores, is_estimator, regression_targets
from bench.train import Batch, EpochRecipe, adam, train_epochs

DATA = ("train", "synthetic", "mixture")
TARGETS = ("teacher", "labels")
COMPRESSION_METRICS = ("acc", "accuracy", "auc", "compression_rows", "predict_s", "teacher_predict_s", "speedup",
                       "excess_error", "acc_best", "acc_last", "acc_val")
"""What ``train_student`` reports (``metrics=``): a forest's test metrics, size and speed against
its teacher (Fig. 1f), or a network student's accuracies with the held-out half (Fig. 2c)."""
Sampler = Callable[[int], tuple[torch.Tensor, torch.Tensor]]
"""``sample(n)`` -> (n inputs, their classes): what a synthetic-data method contributes."""


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
        parts.append(tuple(t.cpu().numpy() for t in sample(factor * len(x))))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def prediction_seconds(model, x: np.ndarray, rows: int, num_classes: int) -> float:
    """Seconds ``model`` takes to score ``rows`` rows (``x`` tiled), one core, one pass."""
    tiled = np.resize(x, (rows, x.shape[1]))
    start = time.perf_counter()
    class_scores(model, tiled, num_classes)
    return time.perf_counter() - start


def compress(ctx: RunContext, cfg: ForestStudent, targets: str, data: str = "train", factor: int = 0,
             sample: Sampler | None = None) -> dict[str, float]:
    """Fit ``ctx.spec.student`` (a forest) to the compression set's targets; score and time it."""
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {targets!r}")
    if not is_estimator(ctx.spec.student):
        raise UserError(f"{ctx.spec.method}: forest TSC needs a scikit-learn student; got {ctx.spec.student!r}")
    k = ctx.data.num_classes
    x_train, y_train = ctx.data.x_train.cpu().numpy(), ctx.data.y_train.cpu().numpy()
    x, classes = compression_set(x_train, y_train, data, factor, sample)
    teacher = ctx.teacher() if targets == "teacher" else None
    scores = class_scores(teacher, x, k) if teacher is not None else np.eye(k)[classes.astype(int)]
    student = ctx.net(n_estimators=cfg.trees)
    student.fit(x, regression_targets(scores))
    metrics = ctx.test_metrics(student)
    x_test = ctx.data.x_test.cpu().numpy()
    out = {"acc": metrics["acc"], "auc": metrics["auc"], "accuracy": metrics["accuracy"],
           "compression_rows": len(x), "predict_s": prediction_seconds(student, x_test, cfg.prediction_rows, k)}
    if teacher is not None:  # Fig. 1f: speed-up and excess error against this run's teacher
        teacher_s = prediction_seconds(teacher, x_test, cfg.prediction_rows, k)
        out.update(teacher_predict_s=teacher_s, speedup=teacher_s / out["predict_s"],
                   excess_error=ctx.extra["teacher_acc"] - out["acc"])
    ctx.extra["metric"] = ctx.metric
    return out


OBJECTIVES = ("l2", "ce")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class NetStudent(EpochRecipe):
    """A network student's TSC training; defaults: GAN-TSC's NIN -> LeNet pair with L2 logit
    matching (P:gantsc §4, C:GAN-TSC cifar10.py)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("cifar10",)
    dataset_keys: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "lr", "optimizer")

    epochs: int = 200
    """P:gantsc §4: "200 TSC training epochs"."""
    batch_size: int = 256
    """C:GAN-TSC cifar10.py: batch 256."""
    lr: float = 1e-4
    """P:gantsc §4: Adam, learning rate 1e-4 for L2 logit matching (1e-3 for pairs 1-2 with
    cross-entropy; pair 3: SGD from 0.1)."""
    optimizer: str = "adam"
    """adam | sgd (pair 3 of Table 1: SGD with momentum, lr decayed from 0.1)."""
    weight_decay: float = 0.0
    """C:GAN-TSC cifar10.py: none with Adam (pair 3's SGD: 5e-4 in Li 2018's recipe, set by the suite)."""
    objective: str = "l2"
    """l2: 1/2 sum (z_s - z_t)^2 / B (P:gantsc §2, Ba & Caruana) | ce: alpha T^2 KL + (1 - alpha) CE."""
    temperature: float = 5.0
    """P:gantsc §4: T = 5, 20, 6 for pairs 1, 2, 3 (Li 2018's defaults; ce only)."""
    alpha: float = 0.9
    """P:gantsc §4: alpha = 0.9, 0.9, 0.95 for pairs 1, 2, 3 (ce only)."""
    augment: bool = False
    """C:GAN-TSC cifar10.py trains without augmentation; Fig. 2d adds flips and HSV shifts, for
    which the registry's flips and crops stand in (the paper profile lists it)."""

    def __post_init__(self):
        if self.objective not in OBJECTIVES or self.optimizer not in OPTIMIZERS:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)} and optimizer one of "
                             f"{', '.join(OPTIMIZERS)}, got {self.objective!r} / {self.optimizer!r}")


@dataclass(frozen=True)
class SyntheticBatches(NetStudent):
    """A network student that sees sampled batches."""

    p_fake: float = 0.8
    """P:gantsc §4: each batch is a GAN batch with probability p_fake, chosen on validation data
    from {0, 0.1, ..., 1}: 0.8 for NIN -> LeNet, 0.2 for the other pairs."""

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.p_fake <= 1.0:
            raise ValueError(f"p_fake must be in [0, 1], got {self.p_fake!r}")


HELD_OUT_SEED = 0
"""P:gantsc §4 splits the test images at random into validation and test halves; one fixed split."""


def held_out_halves(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation, test) indices: a fixed random halving of the test set (P:gantsc §4)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(HELD_OUT_SEED))
    return order[: n // 2], order[n // 2:]


def distil(ctx: RunContext, cfg: NetStudent, targets: str, p_fake: float = 0.0,
           sample: Sampler | None = None) -> dict[str, float]:
    """Train ``ctx.net()`` for ``cfg.epochs`` on the teacher's logits (or the labels); each
    batch is a sampled one with probability ``p_fake``. Returns acc_best / acc_last on the
    test set and the last epoch's accuracy on each half of it: ``acc_val`` (what P:gantsc §4
    chooses p_fake by) and ``acc`` (the held-out half: what it reports)."""
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {targets!r}")
    teacher = ctx.teacher() if targets == "teacher" else None
    student = ctx.net()
    data = ctx.data

    def batch_loss(batch: Batch) -> torch.Tensor:
        x, y = batch.x, batch.y
        if sample is not None and p_fake > 0 and torch.rand((), generator=ctx.generator).item() < p_fake:
            x, y = (t.to(ctx.device) for t in sample(len(batch.idx)))
        logits = student(x)
        if teacher is None:
            return F.cross_entropy(logits, y)
        with torch.no_grad():
            t_logits = teacher(x)
        if cfg.objective == "l2":
            return l2_logits(logits, t_logits)
        return hinton_kd(logits, t_logits, y, cfg.temperature, cfg.alpha)

    optimizer = (lambda params: adam(params, cfg.lr, weight_decay=cfg.weight_decay)) if cfg.optimizer == "adam" else None
    train_epochs(ctx, student, cfg, inputs=data.x_train, targets=data.y_train, batch_loss=batch_loss,
                 optimizer=optimizer)
    val, test = held_out_halves(len(data.y_test))
    return {**ctx.accuracy_summary(),
            "acc_val": accuracy(student, data.x_test[val], data.y_test[val]),
            "acc": accuracy(student, data.x_test[test], data.y_test[test])}


def train_student(ctx: RunContext, cfg, targets: str, sample: Sampler | None = None) -> dict[str, float]:
    """``compress`` a forest student or ``distil`` a network, as ``ctx.spec.student`` is."""
    if is_estimator(ctx.spec.student):
        return compress(ctx, cfg, targets, getattr(cfg, "data", "train"), getattr(cfg, "synthetic_factor", 0), sample)
    return distil(ctx, cfg, targets, getattr(cfg, "p_fake", 0.0), sample)


CLASS_PRIORS = ("data", "balanced")


@dataclass(frozen=True)
class GANSampling:
    """How the AC-GAN is sampled."""

    class_prior: str = "data"
    """Classes the AC-GAN is asked for: ``data``, drawn from the real class distribution
    (P:gantsc §2: "C drawn from the real data class distribution"), or ``balanced``, n/2 per
    class (C:GAN-TSC generate_fake_tabular.py)."""
    noise_std: float = 0.5
    """C:GAN-TSC generate_fake_tabular.py: w ~ N(0, 0.5^2)."""

    def __post_init__(self):
        if self.class_prior not in CLASS_PRIORS:
            raise ValueError(f"class_prior must be one of {', '.join(CLASS_PRIORS)}, got {self.class_prior!r}")
        if self.noise_std <= 0:
            raise ValueError("noise_std must be > 0")


def acgan_sampler(ctx: RunContext, cfg: GANSampling):
    """``sample(n)`` from this run's trained AC-GAN: classes per ``class_prior``, noise N(0, noise_std^2)."""
    gan = ctx.pretrained("sampler").eval()
    with torch.no_grad():
        shape = tuple(gan.generate(torch.zeros(1, gan.latent, device=ctx.device),
                                   torch.zeros(1, dtype=torch.long, device=ctx.device)).shape[1:])
    if shape != tuple(ctx.data.x_train.shape[1:]):
        raise UserError(f"the sampler {dict(ctx.spec.roles())['sampler'].student!r} generates inputs of shape {shape}, the "
                        f"student {ctx.spec.student!r} reads {tuple(ctx.data.x_train.shape[1:])}: pair a sampler "
                        "and nets of one input size")
    y = ctx.data.y_train
    prior = (torch.bincount(y, minlength=ctx.data.num_classes).float() if cfg.class_prior == "data"
             else torch.ones(ctx.data.num_classes))

    @torch.no_grad()
    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if cfg.class_prior == "balanced":  # the code: n / C rows of each class, in class order
            classes = torch.arange(n) * ctx.data.num_classes // n
        else:
            classes = torch.multinomial(prior / prior.sum(), n, replacement=True, generator=ctx.generator)
        noise = torch.randn(len(classes), gan.latent, generator=ctx.generator) * cfg.noise_std
        return gan.generate(noise.to(ctx.device), classes.to(ctx.device)), classes.to(ctx.device)

    return sample
