"""USPS 16x16 digits from the common ``usps.h5`` file (train/test groups, values in [0, 1])."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.data.base import RawData, missing
from bench.registry import DATASETS


@DATASETS.register("usps", num_classes=10, embedded=False, where="<data-root>/usps/usps.h5",
                   native_size=16, channels=1, official_sizes=(7_291, 2_007))
def usps(root: Path, download: bool) -> RawData:
    path = root / "usps" / "usps.h5"
    if not path.exists():
        raise missing("usps", [path], "Put usps.h5 (groups train/test with data and target) "
                      "there; torchvision's USPS uses another format.")
    import h5py

    with h5py.File(path, "r") as h5:
        split = {k: (np.asarray(h5[k]["data"]), np.asarray(h5[k]["target"]))
                 for k in ("train", "test")}
    img = lambda a: torch.from_numpy(a.astype(np.float32)).view(-1, 1, 16, 16)  # noqa: E731
    lab = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return RawData(img(split["train"][0]), lab(split["train"][1]),
                   img(split["test"][0]), lab(split["test"][1]))
