"""The student trained from scratch on the labelled data with the teacher's recipe: MAD
Table 1's "Stu." column, the reference the data-free students are read against."""
from __future__ import annotations

from bench.families.teachers import SUPERVISED_METRICS, TeacherConfig, teacher
from bench.registry import METHODS

METHODS.register("scratch", config=TeacherConfig, family="supervised", paper="-", needs_teacher=False,
                 label="Student", metrics=SUPERVISED_METRICS)(teacher)
