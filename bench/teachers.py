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
from bench.train import EpochRecipe, train_epochs


@dataclass(frozen=True)
class TeacherConfig(EpochRecipe):
    """Supervised recipe; defaults are DFAD's MNIST teacher (see EpochRecipe's fields)."""

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
    ctx.state.setdefault("best", -1.0)

    def keep_best(epoch: int, acc: float) -> None:
        if cfg.keep == "best" and acc > ctx.state["best"]:
            ctx.state["best"] = acc
            ctx.save_model(model)

    train_epochs(ctx, model, cfg, inputs=data.x_train, on_epoch_end=keep_best,
                 batch_loss=lambda x, idx: F.cross_entropy(model(x), data.y_train[idx]))
    if cfg.keep == "last":
        ctx.save_model(model)
    result = ctx.accuracy_summary()
    result["acc"] = result["acc_best"] if cfg.keep == "best" else result["acc_last"]
    return result


# The student architecture trained from scratch on the labelled data with the teacher's
# recipe: MAD Table 1's "Stu." column (the reference the data-free students are read against).
METHODS.register("scratch", config=TeacherConfig, family="supervised", paper="-", needs_teacher=False,
                 label="Student")(teacher)
