"""The papers' published numbers (copied from shared/paper_tables), read as data."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
UNIT_SCALE = {"%": 0.01, "KFLOPs": 1e3, "MFLOPs": 1e6, "GFLOPs": 1e9, "M params": 1e6}


def paper_values(paper: str, table: str, metric: str | list[str]) -> pd.DataFrame:
    """Rows (dataset, method, value, std) of one paper table, values as fractions; ``metric``
    may list several names (AFD prints Vanilla's "accuracy" where others have "avg_accuracy")."""
    frame = pd.read_csv(HERE / f"{paper}.csv")
    metrics = metric if isinstance(metric, list) else [metric]
    frame = frame[(frame["table"] == table) & frame["metric"].isin(metrics)].copy()
    scale = frame["unit"].map(lambda u: UNIT_SCALE.get(u, 1.0))
    frame["value"] = frame["value"] * scale
    frame["std"] = frame["std"] * scale
    return frame[["dataset", "setting", "method", "value", "std", "note"]]
