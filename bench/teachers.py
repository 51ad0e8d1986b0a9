"""The ``teacher`` method: plain supervised training, content-addressed by its spec.

A teacher is a run like any other (``method: teacher``); its spec holds dataset,
architecture, seed and recipe, so every distillation run that needs the same teacher
points at the same run_id and the teacher is trained once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from bench.context import RunContext
from bench.registry import METHODS
from bench.train import sgd, train_epochs


@dataclass(frozen=True)
class TeacherConfig:
    """Supervised recipe; defaults are DFAD's MNIST teacher (methods_spec §14)."""

    epochs: int = 10
    """C:DFAD train_teacher (MNIST): 10 epochs."""
    batch_size: int = 256
    """C:DFAD train_teacher (MNIST): batch 256."""
    lr: float = 0.01
    """C:DFAD train_teacher (MNIST): SGD lr 0.01."""
    momentum: float = 0.9
    """C:DFAD train_teacher: SGD momentum 0.9."""
    weight_decay: float = 1e-4
    """C:DFAD train_teacher (MNIST): weight decay 1e-4."""
    lr_milestones: tuple[int, ...] = ()
    """Epochs at which lr is multiplied by ``lr_gamma`` (CIFAR recipes use them)."""
    lr_gamma: float = 0.1
    """Step-decay factor."""
    keep: str = "best"
    """'best' keeps the best-on-test epoch as DFAD's code does; 'last' keeps the final weights."""

    def __post_init__(self):
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', got {self.keep!r}")


@METHODS.register("teacher", config=TeacherConfig, family="supervised", paper="-",
                  needs_teacher=False, label="Teacher")
def teacher(ctx: RunContext, cfg: TeacherConfig) -> dict[str, float]:
    model = ctx.net()
    data = ctx.data
    opt = sgd(model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
    ctx.state.setdefault("best", -1.0)

    def keep_best(epoch: int, acc: float) -> None:
        if cfg.keep == "best" and acc > ctx.state["best"]:
            ctx.state["best"] = acc
            ctx.save_model(model)

    train_epochs(ctx, model, opt, epochs=cfg.epochs, n=len(data.y_train), batch_size=cfg.batch_size,
                 batch_loss=lambda idx: F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]),
                 milestones=cfg.lr_milestones, gamma=cfg.lr_gamma, on_epoch_end=keep_best)
    if cfg.keep == "last":
        ctx.save_model(model)
    result = ctx.accuracy_summary()
    result["acc"] = result["acc_best"] if cfg.keep == "best" else result["acc_last"]
    return result
