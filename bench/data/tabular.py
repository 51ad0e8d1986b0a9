"""Tabular data for GAN-TSC's random forests (P:gantsc §3): MAGIC (the UCI file, or the
official code's standardised split ``magic_npz`` and a validation split of its training
rows, ``magic_npz_val``), Higgs, Evergreen, an embedded set for
tests, and any CSV file a user names as ``csv:PATH``.

A tabular set is a **pool** of rows (``RawData.x_train``; ``x_test`` is empty) that
:func:`bench.data.base.load_data` splits uniformly at random into ``n_train`` training rows
and a test set of the rest, seeded by the run's seed (P:gantsc §3: "We split each dataset
into training and test sets uniformly at random, with training split sizes given in Figs.
1a-1d"). Every dataset declares its ``metric``: test accuracy for the balanced Higgs, test
AUC for the unbalanced MAGIC and Evergreen (P:gantsc §3).

``csv:PATH`` (or ``csv:PATH#COLUMN``): a file with a header row, numeric feature columns and
a label column (``label`` when present, else the last column; ``#COLUMN`` names it). Label
values are sorted and numbered 0, 1, ...: with two classes the larger value is class 1, the
one a forest student predicts the probability of. Tab-, semicolon- or comma-separated
(the first of them found in the header row).
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from bench.data.base import RawData, missing
from bench.errors import UserError
from bench.registry import DATASETS, Entry

HIGGS_POOL = 200_000
"""P:gantsc §3: "a uniformly random subset of 200,000 class-balanced datapoints" of Higgs."""
HIGGS_POOL_SEED = 0
"""The pool is one fixed subset (harness: seed 0); runs differ in their train/test split."""
EVERGREEN_DROP = ("url", "urlid", "boilerplate", "alchemy_category", "label")
"""Kaggle train.tsv columns that are not numeric features (text, ids, the label)."""


def pool(x: np.ndarray, y: np.ndarray, departures: tuple[str, ...] = ()) -> RawData:
    """RawData holding every row as the pool that load_data splits per seed."""
    x_t = torch.from_numpy(np.array(x, dtype=np.float32))  # a writable copy
    return RawData(x_t, torch.from_numpy(np.array(y, dtype=np.int64)), x_t[:0],
                   torch.zeros(0, dtype=torch.int64), departures)


def read_table(path: Path, label: str | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, labels 0..C-1, class values) from a delimited text file with a header.

    Every way the file can be unusable is a UserError naming the file and what is accepted:
    absent, empty, no label column, a non-numeric or empty feature cell (row and column
    named), a single class.
    """
    import pandas as pd  # here: --list and --dry-run do not load pandas

    if not path.is_file():
        raise UserError(f"{path}: {'a folder' if path.is_dir() else 'no such file'} (csv:PATH needs a delimited "
                        "text file with a header row)")
    with open(path, encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    if not header.strip():
        raise UserError(f"{path}: the file is empty; expected a header row and data rows")
    sep = next((s for s in ("\t", ";") if s in header), ",")
    if all(_is_number(cell) for cell in header.strip().split(sep)):
        raise UserError(f"{path}: the first line ({header.strip()[:60]!r}) is data, not a header; add a header "
                        "row naming the columns (the label column 'label' or the last)")
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read as delimited text ({str(exc).splitlines()[0]})") from None
    if frame.empty:
        raise UserError(f"{path}: no data rows under the header; expected at least two rows")
    column = label or ("label" if "label" in frame.columns else frame.columns[-1])
    if column not in frame.columns:
        raise UserError(f"{path}: no label column {column!r}; columns: {', '.join(frame.columns)} "
                        "(name the label column with csv:PATH#COLUMN)")
    features = frame.drop(columns=[column])
    if features.shape[1] == 0:
        raise UserError(f"{path}: only the label column {column!r}; expected numeric feature columns beside it")
    numeric = features.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise UserError(f"{path}: line {row + 2}, column {features.columns[col]!r}: {features.iat[row, col]!r} "
                        "is not a finite number; every feature cell must be numeric (the label column "
                        f"{column!r} may hold any values)")
    classes, y = class_labels(frame[column], path, column)
    if len(classes) < 2:
        raise UserError(f"{path}: the label column {column!r} holds one class only ({classes[0]!r}); "
                        "a classifier needs at least two")
    return numeric.to_numpy(dtype=np.float32), y.astype(np.int64), [str(c) for c in classes]


MAX_CLASSES = 100
"""More distinct labels than this is a regression target or an id column, not classes."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def class_labels(cells, path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(class values, each row's class index) from a label column. Numbers are classes by
    value, in numeric order ("1" and "1.0" are one class, 2 comes before 10); a blank cell, a
    fractional number, or more than ``MAX_CLASSES`` values is refused (row named)."""
    values = cells.str.strip()
    blank = np.flatnonzero(values.eq("").to_numpy())
    if len(blank):
        raise UserError(f"{path}: line {blank[0] + 2}, label column {column!r} is blank; every row needs a class")
    if values.map(_is_number).all():
        numbers = values.astype(float).to_numpy()
        fractional = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        if len(fractional):
            raise UserError(f"{path}: line {fractional[0] + 2}, label {values.iat[fractional[0]]!r} in column "
                            f"{column!r} is not a whole number; the labels must be classes, not a measurement")
        classes, y = np.unique(numbers.astype(np.int64), return_inverse=True)
    else:
        classes, y = np.unique(values.to_numpy(), return_inverse=True)
    if len(classes) > MAX_CLASSES:
        raise UserError(f"{path}: the label column {column!r} holds {len(classes)} distinct values; at most "
                        f"{MAX_CLASSES} classes are accepted (is it an id or a measurement?)")
    return classes, y


def csv_entry(arg: str) -> Entry:
    """The dataset entry for ``csv:PATH[#COLUMN]`` (Registry family ``csv``)."""
    file, _, column = arg.partition("#")
    path = Path(file).expanduser().resolve()

    def load(root: Path, download: bool) -> RawData:
        x, y, _ = read_table(path, column or None)
        return pool(x, y)

    return Entry(f"csv:{arg}", load, {"num_classes": None, "embedded": False, "where": str(path),
                                      "split": "random", "metric": "auc", "tabular": True})


DATASETS.register_family("csv", csv_entry)


@DATASETS.register("magic", num_classes=2, embedded=False, where="<data-root>/magic/magic04.data",
                   split="random", metric="auc", tabular=True, pool_size=19_020,
                   sources=lambda root: [Path(root) / "magic" / "magic04.data"])
def magic(root: Path, download: bool) -> RawData:
    """MAGIC Gamma Telescope (UCI): 19,020 rows, 10 continuous features; class g (gamma,
    signal, 64.8%) is 0 and h (hadron) is 1, as P:gantsc §3 numbers them."""
    import pandas as pd

    path = root / "magic" / "magic04.data"
    if not path.exists():
        raise missing("magic", [path], "Download magic04.data from the UCI repository "
                      "(https://archive.ics.uci.edu/dataset/159/magic+gamma+telescope) into <data-root>/magic/.")
    frame = pd.read_csv(path, header=None)
    if frame.shape[1] != 11 or not set(frame[10]) <= {"g", "h"}:
        raise UserError(f"{path}: expected 11 comma-separated fields per row (10 features, class g or h)")
    return pool(frame.iloc[:, :10].to_numpy(), (frame[10] == "h").to_numpy())


MAGIC_NPZ_KEYS = ("X_train", "y_train", "X_test", "y_test")


def read_magic_npz(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of C:GAN-TSC data/magic.npz under ``root``/magic; errors
    name the file and the arrays expected."""
    path = root / "magic" / "magic.npz"
    if not path.exists():
        raise missing(name, [path], "Copy data/magic.npz from GAN-TSC's official code "
                      "(github.com/RuishanLiu/GAN-TSC) into <data-root>/magic/.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in MAGIC_NPZ_KEYS}
    except (KeyError, ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot be read as GAN-TSC's magic.npz (arrays {', '.join(MAGIC_NPZ_KEYS)}): "
                        f"{type(exc).__name__}: {exc}") from None
    x_train, x_test = (np.asarray(arrays[k], dtype=np.float32) for k in ("X_train", "X_test"))
    y_train, y_test = (np.asarray(arrays[k]).astype(np.int64) for k in ("y_train", "y_test"))
    if x_train.ndim != 2 or x_train.shape[1] != 10 or x_test.shape[1:] != (10,) or len(y_train) != len(x_train) \
            or len(y_test) != len(x_test) or not set(np.unique(np.r_[y_train, y_test])) <= {0, 1}:
        raise UserError(f"{path}: expected X_train / X_test of 10 features per row and 0/1 labels of the same "
                        f"lengths, got {x_train.shape} / {x_test.shape} and {y_train.shape} / {y_test.shape}")
    return x_train, y_train, x_test, y_test


def as_raw(x_train, y_train, x_test, y_test) -> RawData:
    return RawData(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_test, y_test)))


@DATASETS.register("magic_npz", num_classes=2, embedded=False, where="<data-root>/magic/magic.npz",
                   metric="auc", tabular=True, official_sizes=(13_312, 5_707),
                   sources=lambda root: [Path(root) / "magic" / "magic.npz"])
def magic_npz(root: Path, download: bool) -> RawData:
    """MAGIC as GAN-TSC's code reads it (C:GAN-TSC data/magic.npz, tabular.py): standardised
    features and the code's one fixed split, 13,312 training and 5,707 test rows (class 1 is
    gamma, the majority). The released generator (models/tabular/netG.h5) was trained on
    these features, so its rows are in their units. ``n_train`` draws a seeded subset of
    the training rows; without it every training row is used, as the code does."""
    return as_raw(*read_magic_npz(root, "magic_npz"))


MAGIC_VALIDATION_ROWS = 3_312
"""magic_npz_val holds out this many of the 13,312 training rows, leaving Fig. 1d's 10,000."""
MAGIC_VALIDATION_SEED = 0
"""One fixed split of the training rows (harness)."""


@DATASETS.register("magic_npz_val", num_classes=2, embedded=False, where="<data-root>/magic/magic.npz",
                   metric="auc", tabular=True, official_sizes=(13_312 - MAGIC_VALIDATION_ROWS, MAGIC_VALIDATION_ROWS),
                   sources=lambda root: [Path(root) / "magic" / "magic.npz"])
def magic_npz_val(root: Path, download: bool) -> RawData:
    """magic_npz's training rows only, split once at random into 10,000 training and 3,312
    validation rows, the validation rows standing as the test set: what the tabular AC-GAN's
    choices are made on, so that magic_npz's test rows never choose anything (P:gantsc §3
    leaves the AC-GAN's training open)."""
    x, y, _, _ = read_magic_npz(root, "magic_npz_val")
    order = np.random.default_rng(MAGIC_VALIDATION_SEED).permutation(len(y))
    train, val = order[:-MAGIC_VALIDATION_ROWS], order[-MAGIC_VALIDATION_ROWS:]
    return as_raw(x[train], y[train], x[val], y[val])


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "advkd-bench"))


@DATASETS.register("higgs", num_classes=2, embedded=False, where="<data-root>/higgs/HIGGS.csv.gz (or HIGGS.csv)",
                   split="random", metric="accuracy", tabular=True, pool_size=HIGGS_POOL)
def higgs(root: Path, download: bool) -> RawData:
    """HIGGS (UCI, 11M rows: label, then 28 features): the class-balanced 200,000-row pool
    of P:gantsc §3, drawn once with HIGGS_POOL_SEED and cached (reading 11M rows takes minutes)."""
    import pandas as pd

    looked = [root / "higgs" / "HIGGS.csv.gz", root / "higgs" / "HIGGS.csv"]
    path = next((p for p in looked if p.exists()), None)
    if path is None:
        raise missing("higgs", looked, "Download HIGGS.csv.gz from the UCI repository "
                      "(https://archive.ics.uci.edu/dataset/280/higgs) into <data-root>/higgs/.")
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"higgs_pool_{key}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return pool(z["x"], z["y"])
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        table = pd.read_csv(fh, header=None, dtype=np.float32).to_numpy()
    if table.shape[1] != 29:
        raise UserError(f"{path}: expected 29 columns per row (label, 28 features), got {table.shape[1]}")
    y = table[:, 0].astype(np.int64)
    rng = np.random.default_rng(HIGGS_POOL_SEED)
    half = HIGGS_POOL // 2
    counts = np.bincount(y, minlength=2)
    if counts.min() < half:
        raise UserError(f"{path}: the class-balanced pool of P:gantsc §3 needs {half:,} rows of each class; "
                        f"the file has {counts[0]:,} of class 0 and {counts[1]:,} of class 1 (the UCI file has 11M rows)")
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), half, replace=False) for c in (0, 1)]))
    x, y = table[keep, 1:], y[keep]
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, x=x, y=y)
    tmp.replace(cached)
    return pool(x, y)


@DATASETS.register("evergreen", num_classes=2, embedded=False, where="<data-root>/evergreen/train.tsv",
                   split="random", metric="auc", tabular=True, pool_size=7_395,
                   departures=("Evergreen: the 22 numeric columns of Kaggle's train.tsv ('?' read as -1); "
                               "the 29 features of Liu et al. 2017 that P:gantsc uses are not specified",))
def evergreen(root: Path, download: bool) -> RawData:
    """StumbleUpon Evergreen (Kaggle train.tsv, 7,395 pages): the numeric columns as features
    (P:gantsc follows Liu et al. 2017's 29 features, which it does not list: a departure)."""
    import pandas as pd

    path = root / "evergreen" / "train.tsv"
    if not path.exists():
        raise missing("evergreen", [path], "Download train.tsv of Kaggle's StumbleUpon Evergreen "
                      "Classification Challenge (https://www.kaggle.com/c/stumbleupon) into <data-root>/evergreen/.")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "label" not in frame.columns:
        raise UserError(f"{path}: no 'label' column; expected Kaggle's train.tsv")
    features = frame.drop(columns=[c for c in EVERGREEN_DROP if c in frame.columns]).replace("?", "-1")
    return pool(features.apply(pd.to_numeric).to_numpy(), frame["label"].astype(int).to_numpy())


@DATASETS.register("breast_cancer", num_classes=2, embedded=True, where="scikit-learn (embedded)",
                   split="random", metric="auc", tabular=True, pool_size=569)
def breast_cancer(root: Path, download: bool) -> RawData:
    """scikit-learn's Wisconsin breast cancer set (569 rows, 30 features): a real tabular set
    shipped with scikit-learn, for smoke runs and tests (not in the paper)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return pool(data.data, data.target)
