"""scikit-learn's embedded 8x8 digits (1,797 images): the CPU quick-profile dataset."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from bench.data.base import RawData
from bench.registry import DATASETS

TEST_FRACTION = 0.25  # fixed test split (sklearn ships no official one)
SPLIT_SEED = 0


def sources(root: Path) -> list[Path]:
    """What the digits are made of, found without importing scikit-learn: its data file and
    the code that splits it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        return []
    package = Path(spec.submodule_search_locations[0])
    return [package / "datasets" / "data" / "digits.csv.gz", package / "model_selection" / "_split.py"]


@DATASETS.register("digits", num_classes=10, embedded=True, where="scikit-learn (embedded)",
                   native_size=8, channels=1, sources=sources)
def digits(root: Path, download: bool) -> RawData:
    from sklearn.datasets import load_digits  # here, not at the top: 1.6 s of start-up
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    as_img = lambda a: torch.tensor(a, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0  # noqa: E731
    return RawData(as_img(x_tr), torch.tensor(y_tr), as_img(x_te), torch.tensor(y_te))
