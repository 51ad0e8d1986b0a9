"""Which values a finished run may publish: scores that are fractions must be finite numbers
in [0, 1]. A published row outside that is damage (an edit, a broken writer), never a result."""
from __future__ import annotations

import math
import re

UNIT_RANGE = re.compile(r"^(acc|auc|accuracy|miou|map|mrr|p_at|f_at)(_|$)|_(acc|auc|miou)$")
"""Columns that hold a fraction: accuracies (``acc_best``, ``teacher_acc``, ``pixel_acc``), AUC,
mIoU and the tag-ranking scores (P@k, F@k, MAP, MRR)."""


def in_unit_range(column: str) -> bool:
    return bool(UNIT_RANGE.search(column))


def value_problems(row: dict) -> list[str]:
    """``column=value`` for each fraction in ``row`` that is not a finite number in [0, 1]
    (a blank cell, a metric the run does not report, is not a problem)."""
    problems = []
    for column, value in row.items():
        if not in_unit_range(str(column)) or value is None or value == "":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(f"{column}={value!r}")
            continue
        if math.isnan(number) and not isinstance(value, str):
            continue  # pandas reads a blank cell as NaN
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            problems.append(f"{column}={value}")
    return problems
