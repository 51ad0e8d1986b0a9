"""Training curves from the runs' curve.csv files: one PNG per experiment and dataset.

Accuracy against epoch, one line per method label (mean over seeds, band = ±1 std);
the teacher appears as a dashed horizontal line at its mean accuracy.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.grid import Plan  # noqa: E402
from bench.store import Store  # noqa: E402


def plot_curves(plan: Plan, store: Store, frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``frame`` is aggregate.collect's job table; returns the written figure paths."""
    written = []
    done = frame[frame["status"] == "done"]
    for exp_id, exp in plan.experiments.items():
        if not exp.get("figure"):
            continue
        exp_runs = done[done["experiment"] == exp_id]
        several_pairs = exp_runs.groupby("dataset")["pair"].nunique().max() > 1 if len(exp_runs) else False
        for (dataset, pair), runs in exp_runs.groupby(["dataset", "pair"]):
            curves = store.curves(runs["run_id"].unique())
            if curves.empty or "acc" not in curves:
                continue
            curves = curves.merge(runs[["run_id", "label"]].drop_duplicates(), on="run_id")
            x = "epoch" if "epoch" in curves else "step"
            teacher = curves[curves["label"] == "Teacher"]
            students = curves[curves["label"] != "Teacher"]
            fig, ax = plt.subplots(figsize=(6.4, 4.2))
            sns.lineplot(data=students, x=x, y="acc", hue="label", errorbar="sd", ax=ax)
            if not teacher.empty:
                best = teacher.groupby("run_id")["acc"].max().mean()
                ax.axhline(best, ls="--", color="black", lw=1, label=f"Teacher ({best:.3f})")
            where = f"{dataset} {pair}" if several_pairs else dataset
            ax.set(title=f"{plan.suite} / {exp_id} / {where} ({plan.profile})",
                   xlabel=f"{x} (as each method defines it)", ylabel="test accuracy")
            ax.legend(loc="lower right", fontsize=8)
            fig.tight_layout()
            stem = f"{exp_id}_{dataset}" + (f"_{pair.replace('>', '-')}" if several_pairs else "")
            path = out_dir / "figures" / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
    return written
