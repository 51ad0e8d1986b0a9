"""report.md: per table the reproduced numbers (beside the paper's when comparable),
the claims and whether each holds, the protocol, and the provenance of the run."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from bench.report.tables import TableResult, cell_texts, reference_lookup, to_markdown
from bench.plan.claims import TEST, Sample, Verdict, by_header, side
from bench.report.departures import Departures, collect_departures
from bench.plan.grid import Plan
from bench.results.provenance import code_version


def comparability(plan: Plan, results: list[TableResult]) -> str:
    """The header's verdict: yes only when every table's cells compare with the paper's."""
    lines = {r.table.id: r.comparability() for r in results}
    if not plan.matches_paper:
        return (f"no — profile `{plan.profile}` changes data, nets or budgets; paper numbers, where a table "
                "shows them, are context")
    off = sorted({d for r in results for d, size in r.sizes.items() if size.train and not size.matches})
    differing = [t for t, line in lines.items() if line.startswith("no,")]
    text = ("no: " + ", ".join(differing) + " differ from the paper's setting or runs (each table's Comparable "
            "line says how)" if differing else "yes, with the known departures listed below")
    if not any(line.startswith(("yes", "no,")) for line in lines.values()):
        text = "no table has a paper number for what ran"
    if off:
        text += (f"; **except {', '.join(off)}**, run on data whose sizes differ from the official "
                 "ones (see each table's Data line): their paper numbers are not shown")
    return text


def threads_text(frame: pd.DataFrame) -> str:
    """The thread counts the finished runs were pinned to (they key the cache and the numbers)."""
    done = frame[frame["status"] == "done"].drop_duplicates("run_id")
    values = pd.to_numeric(done.get("threads", pd.Series(dtype=float)), errors="coerce").dropna()
    return ", ".join(f"{int(t)} ({n} run{'s' * (n != 1)})" for t, n in values.value_counts().sort_index().items()) or "–"


def departure_lines(found: Departures) -> list[str]:
    lines = ["## Known departures from the papers", ""]
    lines += [f"- {d}" for d in found.departures] or ["- none known"]
    lines += ["", "## Settings the papers leave open or unconfirmed (this profile's choices)", ""]
    lines += [f"- {c}" for c in found.choices] or ["- none"]
    return lines + [""]


def sample_text(s: Sample | None) -> str:
    if s is None or s.n == 0:
        return "–" if s is None or not s.n_failed else f"failed ({s.n_failed})"
    spread = "" if math.isnan(s.std) else f" ± {s.std:.4f}"
    return f"{s.mean:.4f}{spread} (n={s.n})"


def unchecked_reason(v: Verdict, result: TableResult) -> str:
    """Why a claim has no column to check: a row it names did not run, or the columns it is
    about (its sizes, or the pair of columns of a gain) are not in this report."""
    sides = [v.claim.lhs] + ([] if v.claim.bound is not None else [v.claim.rhs])
    missing = list(dict.fromkeys(side(s)[0] for s in sides if side(s)[0] not in result.rows))  # a row once
    if missing:
        return f"{' and '.join(missing)} did not run in this profile"
    return "the columns it is about are not in this report"


def claim_lines(v: Verdict, result: TableResult) -> list[str]:
    """A claim's verdict, its source (for the papers' claims: where the paper makes it, in its
    words and with its margin where it gives one), and, per column, both rows' mean ± sd (ddof=1), n, d and p, and d on the paper's own
    numbers where it prints both rows (the paper's margin beside ours)."""
    lines = [f"- `{v.claim.described}`: **{v.verdict}**", ""]
    if v.claim.source:
        lines += [f"  Source: {v.claim.source}", ""]
    if not v.columns:
        return lines + [f"  ({unchecked_reason(v, result)})", ""]
    paper = {(c["label"], c["column"]): c["paper"] for c in result.cells.to_dict("records")} if "paper" in result.cells else {}
    paper = by_header(v.claim, paper, result.cols)[0]
    sign = 1.0 if v.claim.op in (">", ">=") else -1.0
    lines += [f"  | column | {v.claim.lhs} | {v.claim.rhs} | d | p | verdict | paper d |",
              "  |---|---|---|---|---|---|---|"]
    for c in v.columns:
        d = "–" if math.isnan(c.diff) else f"{c.diff:+.4f}"
        p = "–" if math.isnan(c.p) else f"{c.p:.3g}"
        verdict = c.verdict + (f" ({c.note})" if c.note else "")
        if v.claim.larger_in:  # the gain in one column less the gain in the other
            cx, cy = c.column.split(" vs ")
            a = paper.get((v.claim.lhs, cx), math.nan) - paper.get((v.claim.rhs, cx), math.nan)
            b = paper.get((v.claim.lhs, cy), math.nan) - paper.get((v.claim.rhs, cy), math.nan)
        else:
            a = paper.get((v.claim.lhs, c.column), math.nan)
            b = v.claim.bound if v.claim.bound is not None else paper.get((v.claim.rhs, c.column), math.nan)
        paper_d = "–" if math.isnan(a) or math.isnan(b) else f"{sign * (a - (b + v.claim.offset)):+.4f}"
        lines.append(f"  | {c.column} | {sample_text(c.lhs)} | {sample_text(c.rhs)} | {d} | {p} | {verdict} | {paper_d} |")
    return lines + [""]


def not_reproduced(result: TableResult) -> dict[str, list[tuple[str, float]]]:
    """Paper rows of a comparable table whose label is not one of ours: label -> (column, value)."""
    if not result.with_paper:
        return {}
    out: dict[str, list[tuple[str, float]]] = {}
    for _, header in result.table.metric_columns():
        for (dataset, pair, label), (value, _) in sorted(reference_lookup(result.table, metric=header).items(),
                                                         key=lambda kv: (kv[0][2], kv[0][0], str(kv[0][1]))):
            if label not in result.rows and label not in ("Student",):
                column = " ".join(str(v) for v in (dataset, pair, header) if v)
                out.setdefault(label, []).append((column, value))
    return out


DATE_LINE = "- Date (UTC): "
"""The report's only line a rerun with the same results changes (bench.api.write_report)."""


def unmeasured_lines(runs: pd.DataFrame) -> list[str]:
    """Why finished runs left a metric out (their ``unmeasured`` note): never a made-up number."""
    notes = runs["unmeasured"].dropna().unique() if "unmeasured" in runs else []
    return [f"Not measured: {note}" for note in notes] + ([""] if len(notes) else [])


BUDGET_KEYS = {"epochs": "epochs", "iters_per_epoch": "iters/epoch", "batch_size": "batch", "trees": "trees",
               "class_only_epochs": "class-only epochs"}
"""Config fields that say how much a run trained (shown when the run has them)."""


def number_text(value) -> str:
    """2 for 2.0 (a CSV round trip turns ints into floats), anything else as it is."""
    try:
        return str(int(value)) if float(value).is_integer() else str(value)
    except (TypeError, ValueError):
        return str(value)


def duration_text(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def budget_text(runs: pd.DataFrame) -> str:
    """The budget fields of ``runs``' configs, each value once (several when they differ)."""
    parts = []
    for key, name in BUDGET_KEYS.items():
        values = runs.get(f"cfg.{key}", pd.Series(dtype=object)).dropna().unique()
        if len(values):
            parts.append(f"{name} " + "/".join(number_text(v) for v in values))
    return ", ".join(parts) or "–"


def runs_lines(frame: pd.DataFrame) -> list[str]:
    """One row per cell of the report's tables (table, row label, dataset, pair, training size):
    the method, the nets, the budget, best and last accuracy over the cell's runs and the compute
    spent; then the commits the runs were trained with and whether the tree was dirty. A row never
    mixes runs of two cells: a mean over two training sizes or two variants under one label (Fig.
    3a's KDGAN adds the Gumbel-Max trick to Table 1's) is a number no table has."""
    done = frame[frame["status"] == "done"].drop_duplicates(["experiment", "run_id", "label"])
    if done.empty:
        return []
    mean = lambda g, c: f"{pd.to_numeric(g[c], errors='coerce').mean():.3f}" if c in g and g[c].notna().any() else "–"  # noqa: E731
    cells: dict[tuple, list] = {}  # a cell that two tables share (the same label and runs) is one row
    cell = ["experiment", "label", "method", "dataset", "pair", "n_train"]  # n_train: the grid's training size
    for key, g in done.groupby(cell, sort=False, dropna=False):
        cells.setdefault((key[1], tuple(sorted(g["run_id"].unique()))), []).append((key, g))
    rows = []
    for members in cells.values():
        (_, label, method, dataset, _, n), g = members[0]
        teachers = g.get("teacher_arch", pd.Series([None] * len(g), index=g.index))
        nets = sorted({f"{t} → {a}" if isinstance(t, str) and t else str(a) for t, a in zip(teachers, g["arch"])})
        rows.append({"label": label, "tables": ", ".join(dict.fromkeys(key[0] for key, _ in members)),
                     "method": method, "dataset": dataset, "n": "–" if pd.isna(n) else f"{int(n):,}",
                     "nets": ", ".join(nets), "budget": budget_text(g), "acc_best": mean(g, "acc_best"),
                     "acc_last": mean(g, "acc_last"), "runs": g["run_id"].nunique(),
                     "compute": duration_text(pd.to_numeric(g.get("wall_time_s", pd.Series(dtype=float)),
                                                            errors="coerce").sum())})
    table = pd.DataFrame(rows).set_index("label")
    if (table["n"] == "–").all():
        table = table.drop(columns="n")
    lines = ["## Runs", "",
             "What each cell of the tables above trained (teacher → student), its budget, the mean best and "
             "last test accuracy over its runs (a method's curve may peak before its end) and the wall time its "
             "runs took:", "", to_markdown(table), ""]
    runs = frame[frame["status"] == "done"].drop_duplicates("run_id")
    column = lambda name: runs[name] if name in runs else pd.Series(None, index=runs.index, dtype=object)  # noqa: E731
    versions = "`" + column("code_version").fillna("not recorded").astype(str).str[:12] + "`"
    dirty = column("code_dirty").map(lambda d: " with uncommitted changes" if str(d) == "True" else "")
    trained = (versions + dirty).value_counts()
    lines += ["Trained with: " + "; ".join(f"{v} ({n} run{'s' * (n != 1)})" for v, n in trained.items()), ""]
    return lines


def render_report(plan: Plan, results: list[TableResult], frame: pd.DataFrame, figures: list[Path],
                  command: str, out_dir: Path) -> str:
    seeds = sorted(frame["seed"].unique().tolist())
    status = frame.drop_duplicates("run_id")["status"].value_counts().to_dict()
    lines = [
        f"# {plan.suite} — profile `{plan.profile}`", "",
        f"- Command: `{command}`",
        f"- Code version (git): `{code_version()}`",
        f"{DATE_LINE}{datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- Papers: {', '.join(plan.papers) or '-'}; seeds: {seeds}",
        f"- Runs: {', '.join(f'{k}: {v}' for k, v in sorted(status.items()))}",
        f"- Torch threads per run: {threads_text(frame)}",
        "- Comparable to the papers' numbers: " + comparability(plan, results),
        "",
    ]
    lines += [f"- **Note**: {note}" for note in plan.notes] + ([""] if plan.notes else [])
    if plan.overrides and not plan.matches_paper:  # a paper profile lists them with its departures
        lines += [f"- Set on the command line: `--set {item}`" for item in plan.overrides] + [""]
    if plan.matches_paper:
        lines += departure_lines(collect_departures(plan, frame))
    for result in results:
        t = result.table
        lines += [f"## {t.id}", "", t.caption, "",
                  f"Protocol: {t.protocol or t.metric_names}; metric column{'s' if t.metrics else ''} `{t.metric_names}`; "
                  f"{len(seeds)} seed(s); cells are mean ± sample std (ddof=1) over the finished runs, "
                  "(k/n) when only k of n finished.", "",
                  "Data: " + "; ".join(size.text() for size in result.sizes.values()), "",
                  "Comparable to the paper: " + result.comparability(), "",
                  to_markdown(cell_texts(result)), ""]
        lines += unmeasured_lines(frame[frame["experiment"] == t.experiment])
        missing = not_reproduced(result)
        if missing:
            lines += ["The paper's other rows, **not reproduced here**, as printed in the paper:", ""]
            lines += [f"- {label}: " + "; ".join(f"{col} {value:.4f}" for col, value in cols if value == value)
                      for label, cols in missing.items()]
            lines.append("")
        if result.verdicts:
            lines += [f"Claims ({TEST} on the per-seed values; d = A − (B + c), sign-adjusted so that "
                      "d > 0 supports the claim; ± is the sample std, ddof=1; paper d: the same difference on the "
                      "paper's own numbers):", ""]
            for v in result.verdicts:
                lines += claim_lines(v, result)
    for state, title in (("failed", "Failed runs"), ("stale", "Stale runs (not counted: the code or "
                         "data changed since they ran; rerun, or --accept-stale to count them)"),
                         ("corrupt", "Damaged runs (not counted; the next sweep reruns them)")):
        runs = frame[frame["status"] == state].drop_duplicates("run_id")
        if not runs.empty:
            lines += [f"## {title}", ""]
            lines += [f"- `{r['run_id']}` {r['label']} {r['dataset']} seed {r['seed']}: {r['error']}"
                      for _, r in runs.iterrows()]
            lines.append("")
    lines += runs_lines(frame)
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in figures]
        lines.append("")
    return "\n".join(lines)
