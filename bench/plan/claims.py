"""The papers' qualitative claims, checked on distributions over seeds, not on means.

A claim reads ``A op B`` or ``A op B ± c`` where A and B are row labels of a table (B
may be a number instead: ``GAN-TSC > 25``), op is one of > >= < <=, and c a constant on
the metric's scale, e.g. ``DFAD > KD-UNR``. In a table of several metrics a side may name
one by its header, ``ROW:HEADER``, to compare two metrics (``KDGAN:distillation <
KDGAN:adversarial``: two gradient variances of one run) in each column of the table. In each column where both rows have results, the difference
d = A - (B + c) (sign flipped for < and <=) is tested with Welch's one-sided t-test:

- ``holds``: d > 0 beyond seed noise (p < 0.05 that d <= 0);
- ``contradicted``: d < 0 beyond seed noise (p < 0.05 the other way);
- ``within noise``: neither.

Where a side has no spread (one seed, or a paper that prints no std) the column can
only be read on its means, and the claim's verdict says so ("holds on means only").
``>=`` and ``<=`` are non-inferiority tests and must state their margin (``MAD >= ABM - 0.005``:
MAD is not worse than ABM by more than 0.005); a difference inside the noise never counts as
support. A
claim holds when every tested column holds, is contradicted when any column contradicts
it, and is within noise otherwise. Columns where a row has no finished run are listed
with the reason.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from bench.errors import UserError

PATTERN = re.compile(r"^\s*(?P<lhs>\S+)\s*(?P<op>>=|<=|>|<)\s*(?P<rhs>\S+)"
                     r"\s*(?:(?P<sign>[+-])\s*(?P<const>[0-9.]+))?\s*$")
ALPHA = 0.05
TEST = f"Welch's one-sided t-test, p < {ALPHA}"
HOLDS, NOISE, CONTRADICTED, UNCHECKED = "holds", "within noise", "contradicted", "not checked"
MEANS_ONLY = " on means only"


@dataclass(frozen=True)
class Claim:
    lhs: str
    op: str
    rhs: str
    offset: float
    text: str
    bound: float | None = None
    """The number B stands for when the claim compares a row with a constant (``GAN-TSC > 25``)."""
    larger_in: tuple[str, str] | None = None
    """(X, Y): the claim is that A's gain over B is larger in the columns ending in X than in
    their neighbours ending in Y (KDGAN §4.1: larger at n = 100 than at n = 1,000)."""
    source: str = ""
    """The suite's ``source:``: for the papers' claims, where the paper makes it, in its words
    and with its own margin where it gives one; the report prints it under the verdict."""

    @property
    def described(self) -> str:
        """The claim as a reader sees it: a gain claim says between which columns."""
        if self.larger_in:
            return f"{self.text}, the gain larger in {self.larger_in[0]} than in {self.larger_in[1]}"
        return self.text


@dataclass(frozen=True)
class Sample:
    """One table cell as a distribution: mean, sample std (ddof=1; NaN when unknown),
    the number of finished runs and of failed ones."""

    mean: float
    std: float
    n: int
    n_failed: int = 0

    @property
    def has_spread(self) -> bool:
        return self.n >= 2 and not math.isnan(self.std)


@dataclass(frozen=True)
class ColumnCheck:
    column: str
    lhs: Sample | None
    rhs: Sample | None
    diff: float = math.nan      # d = A - (B + c), sign-adjusted so that d > 0 supports the claim
    p: float = math.nan         # one-sided p of the verdict's direction; NaN for means only
    verdict: str = UNCHECKED
    note: str = ""
    means_only: bool = False   # no spread on a side: read on the means, not tested


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str
    columns: list[ColumnCheck] = field(default_factory=list)

    @property
    def detail(self) -> str:
        parts = []
        for c in self.columns:
            if c.verdict == UNCHECKED:
                parts.append(f"{c.column}: {c.note}")
                continue
            p = "" if math.isnan(c.p) else f", p={c.p:.3g}"
            parts.append(f"{c.column}: d={c.diff:+.4f}{p} {c.verdict}" + (f" ({c.note})" if c.note else ""))
        return "; ".join(parts) or "no column has both rows"


def parse_claim(text: str, where: str = "claim") -> Claim:
    m = PATTERN.match(text)
    if not m:
        raise UserError(f"{where}: cannot read claim {text!r}; expected 'A > B', 'A >= B - 0.03', ...")
    if m["op"] in (">=", "<=") and m["const"] is None:
        raise UserError(f"{where}: claim {text!r}: '{m['op']}' is a non-inferiority test and needs its margin, "
                        f"e.g. '{m['lhs']} {m['op']} {m['rhs']} {'-' if m['op'] == '>=' else '+'} 0.005' "
                        "(A is not worse than B by more than 0.005); use '>' or '<' for a strict claim")
    offset = float(m["const"] or 0.0) * (-1 if m["sign"] == "-" else 1)
    bound = float(m["rhs"]) if re.fullmatch(r"[0-9]+(\.[0-9]*)?", m["rhs"]) else None
    return Claim(m["lhs"], m["op"], m["rhs"], offset, text, bound)


def claim_from(doc: dict, where: str = "claim") -> Claim:
    """A suite's claim entry: its text, and ``gain_larger_in: [X, Y]`` when it compares A's
    gain over B between two columns rather than A with B in each."""
    claim = dataclasses.replace(parse_claim(doc["claim"], where), source=str(doc.get("source", "")))
    pair = doc.get("gain_larger_in")
    if pair is None:
        return claim
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) and x for x in pair)):
        raise UserError(f"{where}.gain_larger_in: expected two column endings, e.g. ['n=100', 'n=1000'], "
                        f"got {pair!r}")
    if claim.op != ">" or claim.bound is not None:
        raise UserError(f"{where}: a gain_larger_in claim reads 'A > B' (A's gain over B), got {claim.text!r}")
    return dataclasses.replace(claim, larger_in=tuple(pair))


def side(name: str) -> tuple[str, str | None]:
    """A claim side as (row label, metric header or None): ``KDGAN:adversarial``."""
    row, _, header = name.partition(":")
    return row, header or None


def by_header(claim: Claim, cells: dict[tuple[str, str], object], columns: list[str]
              ) -> tuple[dict[tuple[str, str], object], list[str]]:
    """``cells`` keyed by (claim side, column without its header) where the claim's sides
    name metric headers, and those columns, so that the tests below compare the two
    metrics as if they were two rows; unchanged for a claim of plain rows."""
    sides = [claim.lhs] + ([] if claim.bound is not None else [claim.rhs])
    if not any(side(s)[1] for s in sides):
        return cells, columns
    out, bases = {}, {}
    for name in sides:
        row, header = side(name)
        for col in columns:
            if col.endswith(" " + header) and (row, col) in cells:
                base = col[: -len(header) - 1]
                out[(name, base)] = cells[(row, col)]
                bases[base] = None
    return out, list(bases)


def welch(column: str, a: Sample | None, b: Sample | None, d: float, parts: list[Sample]) -> ColumnCheck:
    """The verdict on d, a signed sum of the means of ``parts`` (independent cells):
    Welch's one-sided t-test when every part has a spread, else read on the means."""
    if not all(s.has_spread for s in parts):
        verdict = HOLDS if d > 0 else CONTRADICTED if d < 0 else NOISE
        return ColumnCheck(column, a, b, d, math.nan, verdict, "means only: no spread to test against", True)
    v = [s.std ** 2 / s.n for s in parts]
    se = math.sqrt(sum(v))
    if se == 0.0:
        verdict = HOLDS if d > 0 else CONTRADICTED if d < 0 else NOISE
        return ColumnCheck(column, a, b, d, 0.0 if d else 1.0, verdict)
    df = sum(v) ** 2 / sum(vi ** 2 / (s.n - 1) for vi, s in zip(v, parts) if vi > 0)
    t = d / se
    from scipy import stats  # here: scipy.stats takes ~1 s to import, which --list and --dry-run do not need

    p_holds, p_contra = float(stats.t.sf(t, df)), float(stats.t.cdf(t, df))
    if p_holds < ALPHA:
        return ColumnCheck(column, a, b, d, p_holds, HOLDS)
    if p_contra < ALPHA:
        return ColumnCheck(column, a, b, d, p_contra, CONTRADICTED)
    return ColumnCheck(column, a, b, d, min(p_holds, p_contra), NOISE)


def compare(claim: Claim, column: str, a: Sample, b: Sample) -> ColumnCheck:
    """Test one column: Welch's t-test when both sides have a spread, else means only."""
    sign = 1.0 if claim.op in (">", ">=") else -1.0
    return welch(column, a, b, sign * (a.mean - (b.mean + claim.offset)), [a, b])


def gain_pairs(claim: Claim, columns: list[str]) -> list[tuple[str, str]]:
    """(column ending in X, the column with the same start ending in Y) for a gain claim."""
    x, y = claim.larger_in
    return [(c, c[: -len(x)] + y) for c in columns if c.endswith(" " + x) and c[: -len(x)] + y in columns]


def compare_gains(claim: Claim, cells: dict[tuple[str, str], Sample], cx: str, cy: str) -> ColumnCheck:
    """d = (A - B in column cx) - (A - B in column cy), over four independent cells."""
    parts = [cells.get((row, col)) for col in (cx, cy) for row in (claim.lhs, claim.rhs)]
    column = f"{cx} vs {cy}"
    if any(s is None or s.n == 0 for s in parts):
        return ColumnCheck(column, None, None, note="a cell of the comparison has no finished run")
    a_x, b_x, a_y, b_y = parts
    return welch(column, None, None, (a_x.mean - b_x.mean) - (a_y.mean - b_y.mean), parts)


def check_claim(claim: Claim, cells: dict[tuple[str, str], Sample], columns: list[str]) -> Verdict:
    """``cells[(row label, column)]``: the samples of a table; ``columns`` in display order."""
    cells, columns = by_header(claim, cells, columns)
    labels = {label for label, _ in cells}
    if claim.lhs not in labels or (claim.bound is None and claim.rhs not in labels):
        return Verdict(claim, UNCHECKED, [])
    checks = []
    for cx, cy in gain_pairs(claim, columns) if claim.larger_in else []:
        checks.append(compare_gains(claim, cells, cx, cy))
    for col in [] if claim.larger_in else columns:
        a = cells.get((claim.lhs, col))
        # a constant has no spread; n = 2 only keeps Welch's degrees of freedom those of A alone
        b = Sample(claim.bound, 0.0, 2) if claim.bound is not None else cells.get((claim.rhs, col))
        if a is None or b is None:
            continue  # a row that does not run in this column (e.g. paper-only rows)
        missing = [f"{name} has no finished run" + (f" ({s.n_failed} failed)" if s.n_failed else "")
                   for name, s in ((claim.lhs, a), (claim.rhs, b)) if s.n == 0]
        if missing:
            checks.append(ColumnCheck(col, a, b, note="; ".join(missing)))
        else:
            checks.append(compare(claim, col, a, b))
    tested = [c for c in checks if c.verdict != UNCHECKED]
    verdicts = [c.verdict for c in tested]
    if not tested:
        return Verdict(claim, UNCHECKED, checks)
    if CONTRADICTED in verdicts:
        verdict = CONTRADICTED
    elif all(v == HOLDS for v in verdicts):
        verdict = HOLDS
    else:
        return Verdict(claim, NOISE, checks)
    deciding = [c for c in tested if c.verdict == verdict]
    return Verdict(claim, verdict + (MEANS_ONLY if any(c.means_only for c in deciding) else ""), checks)
