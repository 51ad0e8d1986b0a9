"""SVHN (cropped digits, 32x32 RGB) from torchvision's ``.mat`` files, held in memory.

Used as the *unrelated* alternative data of DFAD Table 2's CIFAR and Caltech101 KD-UNR
rows (DFAD does not name its alternative sets for classification; see the suite).
Labels: the files store digit 0 as 10; they are mapped to 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.data.base import RawData, missing
from bench.registry import DATASETS

FILES = ("train_32x32.mat", "test_32x32.mat")


def read_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.io import loadmat

    mat = loadmat(path)
    x = torch.from_numpy(np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1))).float() / 255.0
    y = torch.from_numpy(mat["y"].astype(np.int64).ravel() % 10)
    return x, y


@DATASETS.register("svhn", num_classes=10, embedded=False, where="<data-root>/svhn/{train,test}_32x32.mat",
                   native_size=32, channels=3, official_sizes=(73_257, 26_032))
def svhn(root: Path, download: bool) -> RawData:
    folder = root / "svhn"
    if not all((folder / f).exists() for f in FILES) and download:
        import torchvision.datasets as tvd

        for split in ("train", "test"):
            tvd.SVHN(str(folder), split=split, download=True)
    if not all((folder / f).exists() for f in FILES):
        raise missing("svhn", [folder], "Put train_32x32.mat and test_32x32.mat (torchvision's SVHN "
                      "files) there, or add --download.")
    (x_tr, y_tr), (x_te, y_te) = (read_mat(folder / f) for f in FILES)
    return RawData(x_tr, y_tr, x_te, y_te)
