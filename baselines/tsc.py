"""Teacher-student compression on the training data, and the student without a teacher
(P:gantsc §§3-4: "TSC using training data only" and "Student Only")."""
from __future__ import annotations

from bench.families.compression import COMPRESSION_METRICS, ForestStudent, NetStudent, train_student
from bench.context import RunContext
from bench.registry import METHODS


CONFIGS = {"estimator": ForestStudent, "classifier": NetStudent}


@METHODS.register("tsc", config=CONFIGS, family="synthetic", paper="gan_tsc", needs_teacher=True,
                  label="TSC-training", metrics=COMPRESSION_METRICS)
def tsc(ctx: RunContext, cfg) -> dict[str, float]:
    """The student fitted to the teacher's outputs on its training data (Ba & Caruana's
    compression with the teacher's own training set as the compression set): a forest to
    P(y = 1 | x), a network to the logits (or Hinton's loss)."""
    return train_student(ctx, cfg, "teacher")


@METHODS.register("student_only", config=CONFIGS, family="synthetic", paper="gan_tsc",
                  needs_teacher=False, label="Student-only", metrics=COMPRESSION_METRICS)
def student_only(ctx: RunContext, cfg) -> dict[str, float]:
    """P:gantsc §3-4: the student trained on the labels without a teacher: a regression forest
    on the 0/1 labels "treated as real value targets", a network with cross-entropy."""
    return train_student(ctx, cfg, "labels")
