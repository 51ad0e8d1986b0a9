"""Summaries -> paper-layout tables (mean ± std over seeds), paper values and claims.

Reads only the runs of the plan being aggregated (by run_id), so re-running a suite
with another profile or another suite sharing runs never mixes results.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.plan.claims import Sample, Verdict, check_claim, claim_from
from bench.plan.grid import Plan, Table
from bench.plan.schema import file_name
from bench.nets.cost import net_cost, si
from bench.report.reference import paper_values
from bench.registry import DATASETS
from bench.results.store import Store, atomic_write_csv, atomic_write_text
from bench.results.states import DONE


@dataclass(frozen=True)
class DataSize:
    """The train/test sizes a column was run on, against the dataset's official sizes."""

    dataset: str
    train: tuple[int, ...]
    """Every training size its runs recorded (several where the grid sweeps n_train); empty: none."""
    test: int | None
    official: tuple[int, int] | None
    subset: bool = False   # a deliberate training subset (n_train in the grid)

    @property
    def matches(self) -> bool:
        """Whether these are the official sizes (a deliberate training subset counts)."""
        if self.official is None or self.test is None:
            return self.official is None
        return self.test == self.official[1] and (self.subset or max(self.train) == self.official[0])

    def text(self) -> str:
        if not self.train:
            return f"{self.dataset}: not run yet"
        trains = [f"{t:,}" for t in self.train]
        trains = trains[0] if len(trains) == 1 else ", ".join(trains[:-1]) + " and " + trains[-1]
        text = f"{self.dataset}: {trains} train / {self.test:,} test"
        if self.official is None:
            return text + " (no official split)"
        if self.matches:
            return text + " (official sizes" + (", training subset" if self.subset else "") + ")"
        return (text + f" — **not the official {self.official[0]:,} / {self.official[1]:,}: "
                "not comparable to the paper**")


def data_sizes(sub: pd.DataFrame) -> dict[str, DataSize]:
    """Per dataset, the sizes its finished runs recorded."""
    out = {}
    for dataset, group in sub.groupby("dataset", sort=False):
        done = group[group["status"] == "done"]
        sizes = [(int(r["train_size"]), int(r["test_size"])) for _, r in done.iterrows()
                 if "train_size" in r and not pd.isna(r["train_size"])]
        train, test = (tuple(sorted({t for t, _ in sizes})), max(t for _, t in sizes)) if sizes else ((), None)
        official = DATASETS.get(dataset).meta.get("official_sizes")
        out[dataset] = DataSize(dataset, train, test, tuple(official) if official else None,
                                bool(group["n_train"].notna().any()))
    return out


@dataclass
class TableResult:
    table: Table
    cells: pd.DataFrame   # one row per (label, dataset): n, n_expected, n_failed, mean, std, paper...
    rows: list[str]
    cols: list[str]
    verdicts: list[Verdict]
    with_paper: bool
    sizes: dict[str, DataSize] = field(default_factory=dict)

    def comparability(self) -> str:
        """One line on whether the cells that have a paper number compare with it, and if not,
        what differs, cell by cell (grouped when many cells share the same reasons)."""
        cells = self.cells[self.cells["paper"].notna()] if "paper" in self.cells else self.cells.iloc[:0]
        if cells.empty:
            return "no paper number to compare with" + ("" if self.with_paper else " (the paper prints none)")
        groups: dict[str, list[str]] = {}
        for c in cells.to_dict("records"):
            if c["differs"]:
                groups.setdefault(c["differs"], []).append(f"{c['label']} {c['column']}")
        if not groups:
            return "yes: every cell with a paper number ran the paper's setting and runs (departures above)"
        parts = [("every cell" if len(names) == len(cells) else ", ".join(names)) + f" ({why})"
                 for why, names in groups.items()]
        return "no, the paper's numbers are context: " + "; ".join(parts)

    @property
    def means(self) -> pd.DataFrame:
        pivot = self.cells.pivot(index="label", columns="column", values="mean")
        return pivot.reindex(index=self.rows, columns=self.cols)

    @property
    def samples(self) -> dict[tuple[str, str], Sample]:
        """Each cell as a distribution over seeds, for the claims."""
        return {(c["label"], c["column"]): Sample(c["mean"], c["std"], int(c["n"]), int(c["n_failed"]))
                for c in self.cells.to_dict("records")}


def collect(plan: Plan, store: Store, known: dict | None = None) -> pd.DataFrame:
    """One row per job of the plan: experiment, label and the run's summary columns.

    ``known`` (run_id -> bench.results.validity.RunState) overrides the summaries' status, so a stale
    or damaged result is not counted as done (its reason goes into ``error``) and an unfinished run
    reads running, queued or partial, not todo.
    """
    jobs = pd.DataFrame([{"experiment": j.experiment, "label": j.label, "run_id": j.spec.run_id,
                          "dataset": j.spec.dataset, "pair": j.pair, "seed": j.spec.seed, "arch": j.spec.student,
                          "n_train": j.spec.n_train} for j in plan.runs])
    jobs["n_train"] = jobs["n_train"].astype("Int64")  # 100, not 100.0, in column labels
    summaries = store.summaries(jobs["run_id"].unique())
    if summaries.empty:
        frame = jobs.assign(status="todo", error="")
    else:
        keep = [c for c in summaries.columns if c not in ("dataset", "seed", "n_train", "arch")]
        frame = jobs.merge(summaries[keep], on="run_id", how="left")
        frame["status"] = frame["status"].fillna("todo")
        frame["error"] = frame["error"].fillna("") if "error" in frame else ""
    for run_id, state in (known or {}).items():
        if state.status in ("stale", "corrupt"):
            frame.loc[frame["run_id"] == run_id, ["status", "error"]] = (state.status, state.reason)
        elif state.status in ("running", "queued", "partial"):  # the header says what --status says
            frame.loc[frame["run_id"] == run_id, "status"] = state.status
    return frame


def sized(frame: pd.DataFrame) -> pd.Series:
    """``n_train`` per row; a run on every training row (n_train unset, e.g. a teacher) counts
    as the training size it recorded, so it sits beside the runs sized to all rows."""
    if "train_size" not in frame:
        return frame["n_train"]
    recorded = pd.to_numeric(frame["train_size"], errors="coerce").round().astype("Int64")
    return frame["n_train"].astype("Int64").fillna(recorded)


def column_key(frame: pd.DataFrame, cols: str) -> pd.Series:
    """The table's column label per row: a frame column, or ``a+b`` joining two
    (``n_train`` shows as ``n=100``, as KDGAN's tables head their columns; see ``sized``)."""
    parts = [sized(frame).map(lambda n: f"n={n}") if p == "n_train" else frame[p].astype(str)
             for p in cols.split("+")]
    return pd.concat(parts, axis=1).agg(" ".join, axis=1)


def table_result(plan: Plan, table: Table, frame: pd.DataFrame) -> TableResult:
    sub = frame[frame["experiment"] == table.experiment].copy()
    sub["column"] = column_key(sub, table.cols)
    rows = list(dict.fromkeys(sub[table.rows]))
    metrics = table.metric_columns()
    cols = [f"{col} {header}" if header else col for col in dict.fromkeys(sub["column"]) for _, header in metrics]
    with_paper = table.reference is not None  # as context where the cell is not comparable
    ref_cost = reference_lookup(table, metric="flops") if with_paper and table.cost else {}
    sizes = data_sizes(sub)
    differs = differences(plan, table)
    cells = []
    by_n = "n_train" in (table.reference or {})
    ref_metrics = (table.reference or {}).get("metrics", {})
    for metric, header in metrics:
        ref = reference_lookup(table, metric=ref_metrics.get(header, header)) if with_paper else {}
        # the paper's numbers are shown only beside columns run on the official data sizes
        ref = {k: v for k, v in ref.items() if k[0] not in sizes or sizes[k[0]].matches}
        for (row, col, dataset, pair, n), group in sub.groupby([table.rows, "column", "dataset", "pair", "n_train"],
                                                               sort=False, dropna=False):
            group = group.drop_duplicates("run_id")  # one teacher shared by all seeds counts once
            done = group[group["status"] == "done"]
            values = pd.to_numeric(done.get(metric, pd.Series(dtype=float)), errors="coerce").dropna()
            setting = int(n) if by_n and not pd.isna(n) else pair
            paper = ref.get((dataset, setting, row), ref.get((dataset, None, row), (np.nan, np.nan)))
            params, macs = arch_cost(group["arch"].iloc[0], dataset) if table.cost else (np.nan, np.nan)
            paper_macs = ref_cost.get((dataset, pair, row), ref_cost.get((dataset, None, row), (np.nan,)))[0]
            cells.append({"label": row, "column": f"{col} {header}" if header else col, "dataset": dataset,
                          "metric": metric,
                          "pair": pair, "n": len(values), "n_expected": len(group), "n_done": len(done),
                          "n_failed": int((group["status"] == "failed").sum()),
                          "mean": values.mean() if len(values) else np.nan,
                          "std": values.std(ddof=1) if len(values) > 1 else np.nan,
                          "paper": paper[0], "paper_std": paper[1],
                          "differs": "; ".join(differs(group, len(values))) if not pd.isna(paper[0]) else "",
                          "params": params, "macs": macs, "paper_macs": paper_macs})
    if table.average:
        averages = average_cells(sub, table, rows, ref_metrics if with_paper else None)
        for cell in averages:  # an average differs from the paper wherever one of its columns does
            parts = {part for c in cells if c["label"] == cell["label"] for part in c["differs"].split("; ") if part}
            cell["differs"] = "; ".join(sorted(parts)) if not pd.isna(cell["paper"]) else ""
        cells += averages
        cols += list(dict.fromkeys(c["column"] for c in averages))
    cells_df = pd.DataFrame(cells)
    if table.gain:
        cells_df["gain"] = gains(cells_df, table.gain)
    result = TableResult(table, cells_df, rows, cols, [], with_paper, sizes)
    result.verdicts = [check_claim(claim_from(c), result.samples, claim_columns(c, cols))
                       for c in plan.claims if c["table"] == table.id]
    return result


def differences(plan: Plan, table: Table):
    """What makes a cell not comparable to the paper's number: the profile's own data, nets or
    budgets, a ``--set`` that touches one of its runs (or their teachers and pretrained
    players), or fewer finished runs than the paper averages. ``differs(group, n)`` lists them."""
    touched: dict[str, set[str]] = {}
    for job in plan.runs:
        methods = {job.spec.method} | {dep.method for _, dep in job.spec.roles()}
        touched[job.spec.run_id] = {item for item in plan.overrides if item.partition(".")[0] in methods}
    paper_runs = (table.reference or {}).get("runs")

    def differs(group: pd.DataFrame, n: int) -> list[str]:
        out = [] if plan.matches_paper else [f"profile {plan.profile}: its own data, nets or budgets"]
        out += sorted({f"--set {item}" for run_id in group["run_id"] for item in touched.get(run_id, ())})
        if paper_runs and n < paper_runs:
            out.append(f"{n} of the paper's {paper_runs} runs")
        return out

    return differs


def average_cells(sub: pd.DataFrame, table: Table, rows: list[str], ref_metrics: dict | None) -> list[dict]:
    """Per row and metric, the mean over the table's columns taken per seed, then mean ±
    std over the seeds where every column finished (AFD Table 4's "Average"). A row that
    does not run in every column has no average."""
    out = []
    n_cols = sub["column"].nunique()
    dataset = sub["dataset"].iloc[0]
    for metric, header in table.metric_columns():
        ref = reference_lookup(table, metric=ref_metrics.get(header, header)) if ref_metrics is not None else {}
        for row in rows:
            mine = sub[sub[table.rows] == row].drop_duplicates("run_id")
            done = mine[mine["status"] == "done"]
            values = done.assign(v=pd.to_numeric(done.get(metric, pd.Series(dtype=float)), errors="coerce"))
            per_seed = values.dropna(subset=["v"]).groupby("seed")["v"].agg(["mean", "count"])
            seeds = (per_seed[per_seed["count"] == n_cols]["mean"] if mine["column"].nunique() == n_cols
                     else pd.Series(dtype=float))
            paper = ref.get((dataset, table.average, row), (np.nan, np.nan))
            out.append({"label": row, "column": f"{table.average} {header}" if header else table.average,
                        "dataset": dataset, "metric": metric, "pair": table.average, "n": len(seeds),
                        "n_expected": mine["seed"].nunique(), "n_done": len(seeds),
                        "n_failed": int((mine["status"] == "failed").sum()),
                        "mean": seeds.mean() if len(seeds) else np.nan,
                        "std": seeds.std(ddof=1) if len(seeds) > 1 else np.nan,
                        "paper": paper[0], "paper_std": paper[1], "params": np.nan, "macs": np.nan,
                        "paper_macs": np.nan})
    return out


def gains(cells: pd.DataFrame, gain: dict) -> pd.Series:
    """Each cell's mean minus the ``over`` row's mean in its column, for the ``metrics``'
    columns (all when not named); NaN elsewhere and on the ``over`` row itself."""
    base = cells[cells["label"] == gain["over"]].set_index("column")["mean"]
    wanted = gain.get("metrics")
    keep = cells["metric"].isin(wanted) if wanted else pd.Series(True, index=cells.index)
    out = cells["mean"] - cells["column"].map(base)
    return out.where(keep & (cells["label"] != gain["over"]))


def claim_columns(claim: dict, cols: list[str]) -> list[str]:
    """The columns a claim is about: all, those of its ``n_train`` sizes ("... n=100"), or
    those of one metric header of a several-metric table (``metric: "2 Net Avg"``)."""
    if "n_train" in claim:
        cols = [c for c in cols if any(c.endswith(f" n={n}") for n in claim["n_train"])]
    if "metric" in claim:
        cols = [c for c in cols if c.endswith(f" {claim['metric']}")]
    return cols


def reference_samples(table: Table) -> tuple[dict[tuple[str, str], Sample], list[str]]:
    """The paper's own numbers as samples (``reference.runs`` runs behind each mean; a
    value the paper could not produce, e.g. DAFL "FAILED", is a failed cell), and the
    columns, keyed as this table keys its columns."""
    runs = int((table.reference or {}).get("runs", 1))
    ref_metrics = (table.reference or {}).get("metrics", {})
    cells, cols = {}, []
    for metric, header in table.metric_columns():
        for (dataset, pair, label), (value, std) in reference_lookup(table, keep_missing=True,
                                                                     metric=ref_metrics.get(header, header)).items():
            setting = f"n={pair}" if "n_train" in (table.reference or {}) else pair
            if table.cols == "pair":
                col = str(pair)
            else:
                col = " ".join(str(v) for v in (dataset, setting) if v is not None) if "+" in table.cols else dataset
            col = f"{col} {header}" if header else col
            failed = pd.isna(value)
            cells[(label, col)] = Sample(np.nan if failed else value, np.nan if pd.isna(std) else std,
                                         0 if failed else runs, int(failed))
            cols.append(col)
    return cells, list(dict.fromkeys(cols))


def arch_cost(arch: str, dataset: str) -> tuple[int, int]:
    """(parameters, MACs) of ``arch`` built for ``dataset``'s classes and channels."""
    meta = DATASETS.get(dataset).meta
    return net_cost(arch, int(meta["num_classes"]), int(meta["channels"]))


def reference_lookup(table: Table, keep_missing: bool = False, metric: str | None = None
                     ) -> dict[tuple[str, str | None, str], tuple[float, float]]:
    """(our dataset, our pair or None, row label) -> the paper's (value, std).

    ``reference.datasets`` maps our dataset names to the paper's, ``reference.pairs``
    our pair names (or ``reference.n_train`` our training sizes: KDGAN's columns) to the
    paper's setting strings, ``reference.methods`` our labels to the paper's method
    names (identity where absent).
    """
    ref = table.reference or {}
    methods = ref.get("methods", {})
    settings = ref.get("n_train", ref.get("pairs", {}))
    out = {}
    for dataset, paper_name in ref.get("datasets", {}).items():
        values = pd.concat([paper_values(ref["paper"], name, metric or paper_metric(ref, dataset))
                            for name in as_names(ref["table"])])
        for _, r in values[values["dataset"] == paper_name].iterrows():
            if pd.isna(r["value"]) and not keep_missing:
                continue
            label = next((k for k, v in methods.items() if r["method"] in as_names(v)), r["method"])
            # one paper setting can stand for several of ours (MAGIC's 10k and the code's 13,312 rows)
            ours = [k for k, v in settings.items() if r["setting"] in as_names(v)] if settings else [None]
            for pair in ours:
                out[(dataset, pair, label)] = (r["value"], r["std"])
    return out


def as_names(value) -> list:
    """A reference entry that may name one paper string or several (a list)."""
    return value if isinstance(value, list) else [value]


def paper_metric(ref: dict, dataset: str) -> str:
    """The paper's metric for ``dataset``: ``reference.metric``, or per dataset from a
    mapping with an optional ``default`` (GAN-TSC: accuracy on Higgs, AUC elsewhere)."""
    metric = ref.get("metric", "accuracy")
    if isinstance(metric, dict):
        return metric.get(dataset, metric.get("default", "accuracy"))
    return metric


def fmt(mean: float, std: float, n: int, n_expected: int, n_failed: int, n_done: int = 0) -> str:
    """A cell: mean ± sample std (the mean alone for one run), (k/n) when some runs are missing;
    "not measured" when runs finished without the metric (e.g. no Inception-v3 weights: the
    report says why)."""
    if n == 0:
        return f"failed ({n_failed})" if n_failed else "not measured" if n_done else "–"
    text = f"{mean:.3f}" if pd.isna(std) else f"{mean:.3f} ± {std:.3f}"
    if n < n_expected:
        text += f" ({n}/{n_expected})"
    return text


def gain_text(cell: dict) -> str:
    """" (+0.034)": a cell's gain over the table's ``gain.over`` row, when it has one."""
    value = cell.get("gain", np.nan)
    return "" if pd.isna(value) else f" ({value:+.3f})"


def cost_text(cell: dict | None, with_paper: bool) -> str:
    """Our measured MACs ("FLOPs" as the papers print them) and the paper's beside them."""
    if cell is None or pd.isna(cell["macs"]):
        return "–"
    text = si(cell["macs"])
    if with_paper and not pd.isna(cell["paper_macs"]):
        text += f" (paper {si(cell['paper_macs'])})"
    return text


def cell_texts(result: TableResult) -> pd.DataFrame:
    """Display grid: rows = labels, columns = datasets (and paper/Δ columns if comparable)."""
    out = pd.DataFrame(index=result.rows)
    by = {(c["label"], c["column"]): c for c in result.cells.to_dict("records")}
    for col in result.cols:
        if result.table.cost:
            out[f"{col} FLOPs"] = [cost_text(by.get((r, col)), result.with_paper) for r in result.rows]
        out[col] = [fmt(**{k: by[(r, col)][k] for k in ("mean", "std", "n", "n_expected", "n_failed", "n_done")})
                    + gain_text(by[(r, col)]) if (r, col) in by else "–" for r in result.rows]
        if result.with_paper and any(not pd.isna(by[(r, col)]["paper"]) for r in result.rows if (r, col) in by):
            paper, delta = [], []
            for r in result.rows:
                c = by.get((r, col))
                has = c is not None and not pd.isna(c["paper"])
                paper.append(f"{c['paper']:.3f}" + (f" ± {c['paper_std']:.3f}" if not pd.isna(c["paper_std"]) else "")
                             if has else "–")
                delta.append(f"{c['mean'] - c['paper']:+.3f}" if has and not pd.isna(c["mean"]) else "–")
            out[f"{col} (paper)"] = paper
            out[f"{col} Δ"] = delta
    out.index.name = result.table.rows
    return out


def to_markdown(frame: pd.DataFrame) -> str:
    header = [frame.index.name or ""] + list(frame.columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def to_latex(frame: pd.DataFrame, caption: str) -> str:
    esc = lambda s: str(s).replace("±", r"$\pm$").replace("_", r"\_").replace("%", r"\%")  # noqa: E731
    cols = "l" + "c" * len(frame.columns)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{esc(caption)}}}",
             rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(esc(c) for c in [frame.index.name or ""] + list(frame.columns)) + r" \\",
             r"\midrule"]
    for idx, row in frame.iterrows():
        lines.append(" & ".join(esc(v) for v in [idx] + list(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(plan: Plan, store: Store, out_dir: Path,
                 known: dict | None = None) -> tuple[list[TableResult], pd.DataFrame]:
    """Write ``<table>.md|.csv|.tex`` for every table of the plan; return the results."""
    frame = collect(plan, store, known)
    results = []
    for table in plan.tables:
        if not (frame["experiment"] == table.experiment).any():
            continue  # the experiment does not run in this profile (e.g. paper-only tables)
        result = table_result(plan, table, frame)
        texts = cell_texts(result)
        stem = out_dir / file_name(table.id)
        atomic_write_text(stem.with_suffix(".md"), to_markdown(texts) + "\n")
        atomic_write_text(stem.with_suffix(".tex"), to_latex(texts, table.caption or table.id))
        atomic_write_csv(stem.with_suffix(".csv"), result.cells)
        results.append(result)
    return results, frame


def done_count(frame: pd.DataFrame) -> int:
    return int((frame["status"] == DONE).sum())
