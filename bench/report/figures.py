"""Figures from the runs' results: one PNG per experiment and dataset (and pair / n).

An experiment's ``figure`` says what to draw:
- ``true`` or ``{kind: curves, y: [acc]}``: curves.csv columns against epoch, one line per
  method label (mean over seeds, band = ± 1 std, clipped to [0, 1] for accuracies; the
  legend gives each line's number of runs); for accuracy the teacher appears as a
  dashed line at its mean (KDGAN Fig. 3a; Fig. 7 plots ``grad_var_adv``/``grad_var_ds``).
- ``{kind: sweep, y: [acc_best]}``: a summary metric against each ``sweep`` parameter's
  value, one panel per swept parameter, one line per method label, the experiment's rows
  without a sweep as dashed reference lines, log x-axis where the values span decades
  (KDGAN Figs. 4 and 6; GAN-TSC Fig. 1: score against the student's trees).
- ``{kind: scatter, x: speedup, y: [excess_error], log_x: true}``: one point per run
  (GAN-TSC Fig. 1f).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.plan.grid import Plan  # noqa: E402
from bench.plan.schema import file_name  # noqa: E402
from bench.results.store import WALL_COLUMN, Store  # noqa: E402
from bench.results.values import in_unit_range  # noqa: E402
from bench.report.tables import sized  # noqa: E402


def figure_spec(figure) -> dict | None:
    """An experiment's ``figure`` value as {kind, y, log_y} (None: no figure)."""
    if not figure:
        return None
    spec = {"kind": "curves", "y": ["acc"], "log_y": False}
    if isinstance(figure, dict):
        spec.update(figure)
        spec["y"] = [spec["y"]] if isinstance(spec["y"], str) else list(spec["y"])
    return spec


def plot_curves(plan: Plan, store: Store, frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``frame`` is aggregate.collect's job table; returns the written figure paths."""
    written = []
    done = frame[frame["status"] == "done"]
    for exp_id, exp in plan.experiments.items():
        spec = figure_spec(exp.get("figure"))
        if spec is None:
            continue
        exp_runs = done[done["experiment"] == exp_id]
        exp_runs = exp_runs.assign(n_train=sized(exp_runs))   # a teacher on every row joins its students
        several_pairs = exp_runs.groupby("dataset")["pair"].nunique().max() > 1 if len(exp_runs) else False
        several_n = exp_runs["n_train"].nunique() > 1
        for (dataset, pair, n), runs in exp_runs.groupby(["dataset", "pair", "n_train"], dropna=False):
            where = (f"{dataset} {pair}" if several_pairs else dataset) + (f" n={n}" if several_n else "")
            fig = DRAW[spec["kind"]](store, runs, exp, spec)
            if fig is None:
                continue
            fig.suptitle(f"{plan.suite} / {exp_id} / {where} ({plan.profile})", fontsize=10)
            fig.tight_layout()
            stem = "_".join([file_name(exp_id), file_name(dataset)] + ([file_name(pair.replace(">", "-"))]
                            if several_pairs else []) + ([f"n{n}"] if several_n else []))
            path = out_dir / "figures" / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
    return written


BAND = "line: mean; band: ± 1 sample std (ddof=1) over the n runs named in the legend"


def mean_band(ax, data: pd.DataFrame, x: str, y: str, hue: str, marker: str | None = None,
              first_colour: int = 0, place_at: str | None = None) -> None:
    """One line per ``hue`` value: the mean of ``y`` at each ``x`` and a ± 1 std band, clipped
    to [0, 1] for metrics that live there; the legend says how many runs each line averages.
    A line of three points or fewer gets markers (one point alone draws no line). With
    ``place_at``, each point sits at the mean of that column over its runs (the mean wall
    time at an epoch) instead of at ``x``."""
    for k, (label, group) in enumerate(data.groupby(hue, sort=False)):
        stats = group.groupby(x)[y].agg(mean="mean", std=lambda v: v.std(ddof=1)).sort_index()
        low, high = stats["mean"] - stats["std"], stats["mean"] + stats["std"]
        if in_unit_range(y):
            low, high = low.clip(0, 1), high.clip(0, 1)
        where = group.groupby(x)[place_at].mean().reindex(stats.index) if place_at else stats.index
        colour = f"C{first_colour + k}"
        ax.plot(where, stats["mean"], marker=marker or ("o" if len(stats) <= 3 else None), color=colour,
                label=f"{label} (n={group.groupby(x).size().max()})")  # runs behind each point
        ax.fill_between(where, low, high, color=colour, alpha=0.2, lw=0)
    ax.set_title(BAND, fontsize=7)


def draw_curves(store: Store, runs: pd.DataFrame, exp: dict, spec: dict):
    curves = store.curves(runs["run_id"].unique())
    ys = [y for y in spec["y"] if y in curves]
    if curves.empty or not ys:
        return None
    curves = curves.merge(runs[["run_id", "label"]].drop_duplicates(), on="run_id")
    x = "epoch" if "epoch" in curves else "step"
    walls = [WALL_COLUMN] if WALL_COLUMN in curves and curves[WALL_COLUMN].notna().any() else []
    fig, axes = plt.subplots(1 + len(walls), len(ys), figsize=(6.4 * len(ys), 4.2 * (1 + len(walls))),
                             squeeze=False)
    for row, place_at in enumerate([None] + walls):  # epochs as each method counts them, then seconds
        for ax, y in zip(axes[row], ys):
            teacher = curves[curves["label"] == "Teacher"]
            students = curves[(curves["label"] != "Teacher") & curves[y].notna()]
            mean_band(ax, students, x, y, "label", place_at=place_at)
            if y == "acc" and not teacher.empty:
                best = teacher.groupby("run_id")["acc"].max().mean()
                ax.axhline(best, ls="--", color="black", lw=1, label=f"Teacher ({best:.3f})")
            if spec["log_y"]:
                ax.set_yscale("log")
            xlabel = (f"{x} (as each method defines it)" if place_at is None else
                      f"wall time (s; mean over the runs at each {x}, threads per run in the report)")
            ax.set(xlabel=xlabel, ylabel="test accuracy" if y == "acc" else y)
            ax.legend(loc="best", fontsize=8)
    return fig


def draw_sweep(store: Store, runs: pd.DataFrame, exp: dict, spec: dict):
    params = list(dict.fromkeys(name for v in exp["methods"] for name in (v.get("sweep") or {})))
    ys = [y for y in spec["y"] if y in runs]
    if not params or not ys:
        return None
    fixed = runs[~runs["label"].str.contains("[", regex=False)]  # rows without a sweep: reference lines
    fig, axes = plt.subplots(len(ys), len(params), figsize=(4.8 * len(params), 3.8 * len(ys)), squeeze=False)
    for col, name in enumerate(params):
        swept = runs[runs["label"].str.contains(f"[{name}=", regex=False)].copy()
        if swept.empty or f"cfg.{name}" not in swept:
            continue
        swept["x"] = pd.to_numeric(swept[f"cfg.{name}"], errors="coerce")
        swept["line"] = swept["label"].str.split("[", regex=False).str[0]
        for row, y in enumerate(ys):
            ax = axes[row][col]
            swept[y] = pd.to_numeric(swept[y], errors="coerce")
            mean_band(ax, swept, "x", y, "line", marker="o")
            for k, (label, group) in enumerate(fixed.groupby("label")):
                mean = pd.to_numeric(group[y], errors="coerce").mean()
                ax.axhline(mean, ls="--", lw=1, color=f"C{k + swept['line'].nunique()}", label=f"{label} ({mean:.3f})")
            positive = swept["x"][swept["x"] > 0]
            if len(positive) and positive.max() / positive.min() >= 100:
                ax.set_xscale("log")
            ax.set(xlabel=name, ylabel=y)
            ax.legend(loc="best", fontsize=8)
    return fig


def draw_scatter(store: Store, runs: pd.DataFrame, exp: dict, spec: dict):
    """One point per run: summary column ``x`` against each ``y``, coloured by method label, its
    marker by the swept setting (GAN-TSC Fig. 1f: prediction speed-up against excess error, per
    compression set and tree count)."""
    ys = [y for y in spec["y"] if y in runs]
    if spec.get("x") not in runs or not ys:
        return None
    fig, axes = plt.subplots(1, len(ys), figsize=(6.4 * len(ys), 4.2), squeeze=False)
    for ax, y in zip(axes[0], ys):
        points = runs.assign(**{c: pd.to_numeric(runs[c], errors="coerce") for c in (spec["x"], y)},
                             method=runs["label"].str.split("[", regex=False).str[0],
                             setting=runs["label"].str.extract(r"\[(.*)\]", expand=False).fillna(""))
        sns.scatterplot(data=points, x=spec["x"], y=y, hue="method", style="setting", ax=ax)
        if spec.get("log_x"):
            ax.set_xscale("log")
        ax.legend(loc="best", fontsize=8)
    return fig


DRAW = {"curves": draw_curves, "sweep": draw_sweep, "scatter": draw_scatter}
