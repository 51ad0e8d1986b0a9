"""Teacher-student compression on the training rows, and the student without a teacher
(P:gantsc §3: "TSC using training data only" and "Student Only")."""
from __future__ import annotations

from bench.compression import ForestStudent, compress
from bench.context import RunContext
from bench.registry import METHODS


@METHODS.register("tsc", config=ForestStudent, family="synthetic", paper="gan_tsc", needs_teacher=True,
                  label="TSC-training")
def tsc(ctx: RunContext, cfg: ForestStudent) -> dict[str, float]:
    """The student fitted to the teacher's P(y = 1 | x) on the training rows (Ba & Caruana's
    compression with the teacher's own training set as the compression set)."""
    return compress(ctx, cfg, "teacher")


@METHODS.register("student_only", config=ForestStudent, family="synthetic", paper="gan_tsc",
                  needs_teacher=False, label="Student-only")
def student_only(ctx: RunContext, cfg: ForestStudent) -> dict[str, float]:
    """P:gantsc §3: the regression forest trained on the training rows' 0/1 labels, "treated
    as real value targets", without a teacher."""
    return compress(ctx, cfg, "labels")
