"""A suite's tables and claims, checked against the experiments they read: rows that
exist, metrics that are shown, claims that name two rows of their table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.errors import UserError
from bench.plan.claims import claim_from, side
from bench.plan.expand import row_labels
from bench.plan.schema import REFERENCE_KEYS, TABLE_KEYS, as_list, check_keys
from bench.registry import METHODS, reports

CLAIM_KEYS = {"claim", "table", "source", "n_train", "metric", "gain_larger_in"}


@dataclass
class Table:
    id: str
    experiment: str
    rows: str = "label"
    cols: str = "dataset"
    metric: str = "acc_best"
    caption: str = ""
    protocol: str = ""
    reference: dict[str, Any] | None = None
    cost: bool = False
    """Show each row's net FLOPs (MACs, measured) beside its column, as DFAD Table 2 does."""
    metrics: dict[str, str] | None = None
    """Several metrics side by side: summary column -> header (and the paper's metric name
    in the reference csv unless ``reference.metrics`` maps it), one column per (``cols``
    value, metric), as KDGAN Table 2 prints P@3 ... MRR per tag set. ``metric`` is then ignored."""
    gain: dict[str, Any] | None = None
    """``{over: <row>, metrics: [summary columns]}``: each other row's difference to that row's
    mean in the same column, printed after the cell (AFD Table 3's "(+x%)" over Vanilla)."""
    average: str | None = None
    """A column of that name averaging each row over the table's columns, per seed (AFD Table
    4's "Average" pair row)."""

    def metric_columns(self) -> list[tuple[str, str | None]]:
        """(summary column, header suffix or None) for each metric the table shows."""
        return list(self.metrics.items()) if self.metrics else [(self.metric, None)]

    @property
    def metric_names(self) -> str:
        """The summary column(s) the cells come from, for the report and the terminal."""
        return ", ".join(name for name, _ in self.metric_columns())


TABLE_AXES = ("label", "dataset", "pair", "arch", "n_train", "seed", "experiment")
"""What a table's rows and columns can be: the properties every planned run has."""


def read_tables(docs: list, experiments: dict[str, dict], path) -> list[Table]:
    tables: list[Table] = []
    for i, t in enumerate(docs):
        where = f"{path}: tables[{i}]"
        check_keys(t, TABLE_KEYS, where, ("id", "experiment"))
        if any(t["id"] == other.id for other in tables):
            raise UserError(f"{where}.id: table id {t['id']!r} is used twice; ids must be unique")
        if t["experiment"] not in experiments:
            raise UserError(f"{where}.experiment: unknown experiment {t['experiment']!r}; "
                            f"accepted: {', '.join(experiments)}")
        if t.get("reference") is not None:
            check_keys(t["reference"], REFERENCE_KEYS, f"{where}.reference", ("paper", "table"))
        if t.get("gain") is not None:
            check_keys(t["gain"], {"over", "metrics"}, f"{where}.gain", ("over",))
        if "metrics" in t and not (isinstance(t["metrics"], dict) and t["metrics"]):
            raise UserError(f"{where}.metrics: expected a mapping of summary column -> header "
                            f"(e.g. {{p_at_3: P@3}}), got {t['metrics']!r}")
        tables.append(Table(**t))
        for key, value in (("rows", tables[-1].rows), ("cols", tables[-1].cols)):
            unknown = [part for part in value.split("+") if part not in TABLE_AXES]
            if unknown or (key == "rows" and "+" in value):
                accepted = ", ".join(TABLE_AXES) + (" or two joined by +" if key == "cols" else "")
                raise UserError(f"{where}.{key}: {value!r} names no property of a run; accepted: {accepted}")
        check_reported(tables[-1], experiments[t["experiment"]], where)
        rows = row_labels(experiments[t["experiment"]], where)
        if t.get("gain") is not None and t["gain"]["over"] not in rows:
            raise UserError(f"{where}.gain.over: {t['gain']['over']!r} is not a row of the table; rows: "
                            f"{', '.join(sorted(rows))}")
        if t.get("average") is not None and not isinstance(t["average"], str):
            raise UserError(f"{where}.average: the name of the averaged column (e.g. Average), got {t['average']!r}")
    return tables


def check_reported(table: Table, experiment: dict, where: str) -> None:
    """Every summary column the table shows is one that a method of its experiment declares
    (``metrics=`` of its registration): a misspelt column is refused here, not shown as
    "not measured" after the runs have trained."""
    methods = sorted({v["method"] for v in experiment["methods"]})
    shown = [(f"{where}.{'metrics' if table.metrics else 'metric'}", c) for c, _ in table.metric_columns()]
    gained = (table.gain or {}).get("metrics") or []
    shown += [(f"{where}.gain.metrics", c) for c in ([gained] if isinstance(gained, str) else gained)]
    for key, column in shown:
        if not any(reports(m, column) for m in methods):
            declared = sorted({d for m in methods for d in METHODS.get(m).meta["metrics"]})
            raise UserError(f"{key}: {column!r} is reported by none of the methods of experiment "
                            f"{table.experiment!r} ({', '.join(methods)}); they report: {', '.join(declared)}")


def read_claims(docs: list, tables: list[Table], experiments: dict[str, dict], path,
                pair_names: set[str]) -> list[dict[str, Any]]:
    """The suite's claims, each naming rows of its table: method labels, or pair names
    (``pair_names``, from every profile) where the table's rows are pairs."""
    claims = []
    table_ids = [t.id for t in tables]
    for i, c in enumerate(docs):
        where = f"{path}: claims[{i}]"
        c = check_keys(c, CLAIM_KEYS, where, ("claim", "table"))
        if "n_train" in c:  # a claim about some training sizes only (KDGAN: "at small n")
            as_list(c["n_train"], f"{where}.n_train")
        if c["table"] not in table_ids:
            raise UserError(f"{where}.table: unknown table {c['table']!r}; accepted: {', '.join(table_ids)}")
        claim = claim_from(c, f"{where}.claim")
        table = next(t for t in tables if t.id == c["table"])
        rows = pair_names if table.rows == "pair" else row_labels(experiments[table.experiment], where)
        headers = [h for _, h in table.metric_columns() if h]
        if "metric" in c and c["metric"] not in headers:
            raise UserError(f"{where}.metric: {c['metric']!r} is not a metric header of table {table.id!r}; "
                            f"headers: {', '.join(headers) or 'none (the table shows one metric)'}")
        for name in (claim.lhs,) if claim.bound is not None else (claim.lhs, claim.rhs):
            row, header = side(name)
            if row not in rows:
                raise UserError(f"{where}: claim {c['claim']!r} names {row!r}, which is not a row "
                                f"of table {table.id!r}; rows: {', '.join(sorted(rows))}")
            if header is not None and header not in headers:
                raise UserError(f"{where}: claim {c['claim']!r} names the metric {header!r}, which is not a "
                                f"metric header of table {table.id!r}; headers: {', '.join(headers) or 'none'}")
        claims.append(c)
    return claims
