"""The papers' qualitative claims, checked on the numbers that were actually run.

A claim reads ``A op B`` or ``A op B ± c`` where A and B are row labels of a table,
op is one of > >= < <=, and c a constant on the metric's scale, e.g.
``DFAD >= KD-ORI - 0.03``. It is checked on the mean over seeds in every column
where both rows have results, and holds only if it holds in all of them.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import pandas as pd

from bench.errors import UserError

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
PATTERN = re.compile(r"^\s*(?P<lhs>\S+)\s*(?P<op>>=|<=|>|<)\s*(?P<rhs>\S+)"
                     r"\s*(?:(?P<sign>[+-])\s*(?P<const>[0-9.]+))?\s*$")


@dataclass(frozen=True)
class Claim:
    lhs: str
    op: str
    rhs: str
    offset: float
    text: str


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    holds: bool | None  # None: nothing to compare
    detail: str


def parse_claim(text: str, where: str = "claim") -> Claim:
    m = PATTERN.match(text)
    if not m:
        raise UserError(f"{where}: cannot read claim {text!r}; expected 'A > B', 'A >= B - 0.03', ...")
    offset = float(m["const"] or 0.0) * (-1 if m["sign"] == "-" else 1)
    return Claim(m["lhs"], m["op"], m["rhs"], offset, text)


def check_claim(claim: Claim, means: pd.DataFrame) -> Verdict:
    """``means``: rows = labels, columns = datasets (NaN where nothing ran)."""
    if claim.lhs not in means.index or claim.rhs not in means.index:
        return Verdict(claim, None, "not run")
    parts, results = [], []
    for col in means.columns:
        a, b = means.at[claim.lhs, col], means.at[claim.rhs, col]
        if pd.isna(a) or pd.isna(b):
            continue
        ok = bool(OPS[claim.op](a, b + claim.offset))
        results.append(ok)
        parts.append(f"{col}: {a:.4f} {claim.op} {b + claim.offset:.4f} {'yes' if ok else 'no'}")
    if not results:
        return Verdict(claim, None, "no column has both rows")
    return Verdict(claim, all(results), "; ".join(parts))
