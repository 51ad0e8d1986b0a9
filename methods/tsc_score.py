"""The TSC Score of a data set for a teacher-student pair (P:gantsc §5, Table 2;
methods_spec §11), and its Inception Score where Inception-v3 weights are on disk.

A student is trained for one epoch to match the teacher's logits on the data set D (the
training images, ``data: train``, or as many AC-GAN images, ``data: synthetic``) and tested
on the real test set. With the paper's formula the run also trains a reference student on
the real training images (same recipe, its own batch order) for acc(D_real), so each run
is self-contained and the real data's own score is close to, not exactly, 1 (the paper:
0.994 +/- 0.003 over independent runs). ``formula: code`` divides by the released code's
constant instead. The inferior AC-GAN of Table 2 is the sampler trained with
``class_only_epochs`` (the suite's ``sampler:`` params). Any net registered as a sampler
(``generate(noise, classes)`` and ``latent``, bench/nets/acgan.py) can be scored: name it as
the pair's ``sampler``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.families.compression import GANSampling, acgan_sampler
from bench.context import RunContext
from bench.data import batches
from bench.families.gan_scores import (inception_probabilities, inception_score, inception_weights, mode_accuracy,
                              tsc_score, tsc_score_code)
from bench.losses import l2_logits
from bench.metrics import accuracy, eval_logits
from bench.registry import METHODS
from bench.train import adam

DATA = ("synthetic", "train")
FORMULAS = ("paper", "code")
CHUNK = 1000
"""Images generated (and scored by the teacher) at a time."""


@dataclass(frozen=True)
class TSCScoreConfig(GANSampling):
    """One-epoch L2 compression on D; values from C:GAN-TSC-Score unless noted."""

    data: str = "synthetic"
    """synthetic: AC-GAN images | train: the teacher's training images (Table 2's real data)."""
    images: int = 0
    """Images in D; 0: as many as the training set (P:gantsc §5: 50K images, CIFAR-10's training set)."""
    epochs: int = 1
    """P:gantsc §5: "we train each student for only one epoch"."""
    batch_size: int = 256
    """C:GAN-TSC-Score: batch 256."""
    lr: float = 1e-4
    """C:GAN-TSC-Score: Adam, learning rate 1e-4, L2 logit matching (as P:gantsc §4's TSC)."""
    formula: str = "paper"
    """paper: (acc - acc_mode) / (acc_real - acc_mode), acc_real measured in the run (P:gantsc §5) |
    code: acc / code_acc_real (C:GAN-TSC-Score)."""
    code_acc_real: float = 0.532
    """C:GAN-TSC-Score's hard-coded acc(D_real) (its NIN -> LeNet on CIFAR-10); ``formula: code`` only."""
    inception: bool = True
    """Also compute D's Inception Score when the Inception-v3 weights are on disk (never downloaded)."""
    inception_weights: str = ""
    """Path of torchvision's Inception-v3 weights; empty: $BENCH_INCEPTION_WEIGHTS, else torch.hub's cache."""
    inception_splits: int = 10
    """Salimans et al. 2016's code: the mean and std over 10 splits."""

    def __post_init__(self):
        super().__post_init__()
        if self.data not in DATA or self.formula not in FORMULAS:
            raise ValueError(f"data must be one of {', '.join(DATA)} and formula one of {', '.join(FORMULAS)}, "
                             f"got {self.data!r} / {self.formula!r}")
        if self.images < 0 or self.epochs < 1 or self.batch_size < 1 or self.inception_splits < 1:
            raise ValueError("images must be >= 0; epochs, batch_size and inception_splits at least 1")
        if not 0 < self.code_acc_real <= 1:
            raise ValueError(f"code_acc_real must be in (0, 1], got {self.code_acc_real!r}")


def compression_images(ctx: RunContext, cfg: TSCScoreConfig) -> torch.Tensor:
    """D: the first ``images`` training images, or that many AC-GAN images."""
    n = cfg.images or len(ctx.data.y_train)
    if cfg.data == "train":
        if n > len(ctx.data.y_train):
            raise ValueError(f"images = {n} but the training set has {len(ctx.data.y_train)}")
        return ctx.data.x_train[:n]
    sample = acgan_sampler(ctx, cfg)
    return torch.cat([sample(min(CHUNK, n - start))[0] for start in range(0, n, CHUNK)])


def one_epoch_student(ctx: RunContext, cfg: TSCScoreConfig, x: torch.Tensor, teacher) -> float:
    """A fresh student fitted for ``cfg.epochs`` to the teacher's logits on ``x``; its test accuracy."""
    targets = eval_logits(teacher, x)
    student = ctx.net()
    opt = adam(student.parameters(), cfg.lr)
    student.train()
    for _ in range(cfg.epochs):
        for idx in batches(len(x), cfg.batch_size, ctx.generator):
            loss = l2_logits(student(x[idx]), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    acc = accuracy(student, ctx.data.x_test, ctx.data.y_test)
    ctx.log(len(ctx.curve) + 1, loss=loss.item(), acc=acc)  # a NaN loss fails the run (Divergence)
    return acc


def measured_inception(ctx: RunContext, cfg: TSCScoreConfig, x: torch.Tensor) -> dict[str, float]:
    """D's Inception Score, or nothing and the reason in the run's ``unmeasured`` note."""
    if not cfg.inception:
        ctx.extra["unmeasured"] = "inception_score: switched off (tsc_score.inception = false)"
        return {}
    path = inception_weights(cfg.inception_weights)
    if not path.is_file():
        ctx.extra["unmeasured"] = (f"inception_score: no Inception-v3 weights at {path} (torchvision's "
                                   f"{path.name}; put the file there or set tsc_score.inception_weights)")
        return {}
    mean = torch.tensor(ctx.data.mean).view(1, -1, 1, 1)
    std = torch.tensor(ctx.data.std).view(1, -1, 1, 1)
    probs = inception_probabilities((x.cpu() * std + mean).clamp(0, 1), path)
    score, spread = inception_score(probs, cfg.inception_splits)
    return {"inception_score": score, "inception_score_std": spread}


@METHODS.register("tsc_score", config=TSCScoreConfig, family="synthetic", paper="gan_tsc", label="TSC Score",
                  needs_teacher=True, pretrained=("sampler",),
                  metrics=("tsc_score", "acc", "acc_mode", "acc_real", "images", "inception_score",
                           "inception_score_std"))
def tsc_score_method(ctx: RunContext, cfg: TSCScoreConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    x = compression_images(ctx, cfg)
    acc = one_epoch_student(ctx, cfg, x, teacher)
    acc_mode = mode_accuracy(ctx.data.y_test)
    out = {"acc": acc, "acc_mode": acc_mode, "images": len(x)}
    if cfg.formula == "paper":
        out["acc_real"] = one_epoch_student(ctx, cfg, ctx.data.x_train, teacher)
        out["tsc_score"] = tsc_score(acc, out["acc_real"], acc_mode)
    else:
        out["tsc_score"] = tsc_score_code(acc, cfg.code_acc_real)
    return {**out, **measured_inception(ctx, cfg, x)}
