"""The ``teacher`` method: plain supervised training, content-addressed by its spec.

A teacher is a run like any other (``method: teacher``); its spec holds dataset,
architecture, seed and recipe, so every distillation run that needs the same teacher
points at the same run_id and the teacher is trained once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.data.augment import NONE, augmentation
from bench.data.base import DataChoice
from bench.nets.forests import is_estimator
from bench.metrics import IGNORE
from bench.nets.weights import load_weights, pretrained_file, weights_file
from bench.registry import METHODS, Role
from bench.train import EpochRecipe, adam, train_epochs


@dataclass(frozen=True)
class TeacherConfig(EpochRecipe):
    """Supervised recipe; defaults are DFAD's MNIST teacher (see EpochRecipe's fields)."""

    recipe_waived_by: ClassVar[str] = "weights"  # a loaded teacher needs no recipe for its dataset

    keep: str = "best"
    """'best' keeps the best-on-test epoch as DFAD's code does; 'last' keeps the final weights."""
    focal_gamma: float = 0.0
    """0: cross-entropy. DFAD's segmentation teachers train with the focal loss, gamma 2
    (C:DFAD train_teacher_seg.py ``focal_loss(output, target, gamma=2, ignore_index=255)``)."""
    backbone_weights: bool = False
    """Start the backbone from the net's published ImageNet weights (local hub cache): DFAD
    §4.3's teachers have an ImageNet-pretrained ResNet-50 backbone."""
    weights: str = ""
    """A teacher trained elsewhere, loaded instead of training: ``torchvision`` (the net's
    published ImageNet weights from the local hub cache) or a path to a state dict (MAD used
    its own pre-trained teachers, App. B.1). Empty: train with this recipe. The file's
    digest is recorded, so a replaced file makes the run stale."""

    def __post_init__(self):
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', got {self.keep!r}")


def supervised_loss(logits: torch.Tensor, y: torch.Tensor, cfg) -> torch.Tensor:
    """Cross-entropy, or the focal loss when the recipe sets ``focal_gamma``; unlabelled
    segmentation pixels (``IGNORE``) count for nothing."""
    gamma = getattr(cfg, "focal_gamma", 0.0)
    ignore = IGNORE if y.dim() == 3 else -100
    ce = F.cross_entropy(logits, y, ignore_index=ignore, reduction="none" if gamma else "mean")
    if not gamma:
        return ce
    focal = (1 - torch.exp(-ce)) ** gamma * ce  # ce = -log p_y; ignored pixels give 0
    return focal.sum() / (y != ignore).sum().clamp_min(1)


def supervised(ctx: RunContext, cfg, optimizer=None) -> dict[str, float]:
    """Cross-entropy training on the labelled set, keeping the best-on-test epoch
    (``cfg.keep == 'best'``) or the last weights; ``acc`` is the kept model's accuracy."""
    model = ctx.net()
    data = ctx.data
    if getattr(cfg, "weights", ""):
        return loaded(ctx, model, cfg.weights)
    if getattr(cfg, "backbone_weights", False):
        path = pretrained_file(ctx.spec.student)
        ctx.record_file(path)
        load_weights(model, path)
        model.to(ctx.device)
    ctx.state.setdefault("best", -1.0)

    def keep(epoch: int, acc: float) -> None:
        if cfg.keep == "last" or acc > ctx.state["best"]:
            ctx.state["best"] = max(acc, ctx.state["best"])
            ctx.save_model(model)

    train_epochs(ctx, model, cfg, inputs=getattr(data, "x_train", None), targets=data.y_train, on_epoch_end=keep,
                 optimizer=optimizer, batch_loss=lambda batch: supervised_loss(model(batch.x), batch.y, cfg))
    result = ctx.accuracy_summary()
    result["acc"] = result["acc_best"] if cfg.keep == "best" else result["acc_last"]
    return result


def loaded(ctx: RunContext, model, source: str) -> dict[str, float]:
    """A teacher from published or user weights (``TeacherConfig.weights``): loaded,
    evaluated once on the test set and published like a trained one."""
    path = weights_file(source, ctx.spec.student, f"teacher run on {ctx.spec.dataset}")
    ctx.record_file(path)
    load_weights(model, path)
    model.to(ctx.device)
    ctx.log(0, epoch=0, acc=ctx.evaluate(model))
    ctx.save_model(model)
    result = ctx.accuracy_summary()
    return {**result, "acc": result["acc_last"]}


def fit(ctx: RunContext) -> dict[str, float]:
    """A scikit-learn teacher (``kind: estimator``, GAN-TSC's 500-tree forest) is fitted
    on the labelled set with its own defaults: no epochs, nothing of the recipe applies."""
    model = ctx.net()
    model.fit(ctx.data.x_train.cpu().numpy(), ctx.data.y_train.cpu().numpy())
    ctx.save_model(model)
    return ctx.test_metrics(model)


SUPERVISED_METRICS = ("acc", "acc_best", "acc_last", "accuracy", "auc")
"""A net's accuracies, or an estimator's test metrics on a tabular set."""


@METHODS.register("teacher", config=TeacherConfig, family="supervised", paper="-",
                  needs_teacher=False, label="Teacher", metrics=SUPERVISED_METRICS)
def teacher(ctx: RunContext, cfg: TeacherConfig) -> dict[str, float]:
    """Cross-entropy training for a torch net; ``fit`` for an estimator."""
    return fit(ctx) if is_estimator(ctx.spec.student) else supervised(ctx, cfg)


@dataclass(frozen=True)
class PretrainConfig(DataChoice):
    """KDGAN's pretraining of each player with cross-entropy (Algorithm 1 line 1; the
    values are the official code's, methods_spec §8-9: the paper gives none)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("mnist",)
    dataset_keys: ClassVar[tuple[str, ...]] = ("batch_size",)

    train_subset: str = "last"
    """C:KDGAN data_utils: the last n images of the MNIST training file."""
    normalise: str = "none"
    """P:kdgan §4.1: MNIST is not preprocessed (pixels in [0, 1])."""
    epochs: int = 200
    """C:KDGAN pretrain scripts: 200 epochs."""
    batch_size: int = 10
    """C:KDGAN scripts: 10 (n = 100), 50 (n = 1k / 5k), 100 (n = 10k); set per n by the suite."""
    lr: float = 1e-3
    """C:KDGAN flags: Adam, learning rate 1e-3."""
    weight_decay: float = 4e-5
    """C:KDGAN mdlcompr/flags.py: L2 weight decay 4e-5 (added to the loss, as Adam's L2 here)."""
    lr_milestones: tuple[int, ...] = ()
    """No decay in KDGAN's code."""
    lr_gamma: float = 0.1
    """Unused without milestones."""
    augment: str = "none"
    """none | flip | dataset: P:kdgan §4.1: MNIST is used as is (CIFAR: mirrored images)."""
    keep: str = "best"
    """C:KDGAN: the best checkpoint on the test set is kept (test-set model selection,
    methods_spec §20.1: kept for parity, flagged in the report)."""

    def __post_init__(self):
        super().__post_init__()
        augmentation(self.augment, NONE)  # raises on an unknown choice
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', got {self.keep!r}")


DISCRIMINATOR_SEED = 10_000
"""Offset between a discriminator's seed and its teacher's: same architecture, own weights."""


@METHODS.register("pretrain", config=PretrainConfig, family="supervised", paper="kdgan",
                  needs_teacher=False, label="Pretrained", metrics=SUPERVISED_METRICS,
                  provides=(Role("classifier", trains_teacher=True),  # runs differ in C's init, P:kdgan §4.1
                            Role("discriminator", arch=("discriminator", "teacher"), teacher_seed=True,
                                 seed_offset=DISCRIMINATOR_SEED)))
def pretrain(ctx: RunContext, cfg: PretrainConfig) -> dict[str, float]:
    return supervised(ctx, cfg, lambda params: adam(params, cfg.lr, weight_decay=cfg.weight_decay))
