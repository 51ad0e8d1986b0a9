"""MNIST and Fashion-MNIST from their IDX ``.gz`` files (torchvision layout), read directly."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from bench.data.base import RawData, missing
from bench.registry import DATASETS

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def read_idx_folder(folder: Path) -> RawData:
    xs_tr, ys_tr, xs_te, ys_te = (read_idx(folder / f) for f in FILES)
    img = lambda a: torch.from_numpy(a.copy()).float().unsqueeze(1) / 255.0  # noqa: E731
    lab = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return RawData(img(xs_tr), lab(ys_tr), img(xs_te), lab(ys_te))


def find_folder(candidates: list[Path]) -> Path | None:
    for folder in candidates:
        if all((folder / f).exists() for f in FILES):
            return folder
    return None


def load_idx_dataset(name: str, tv_class: str, candidates: list[Path], root: Path,
                     download: bool) -> RawData:
    folder = find_folder(candidates)
    if folder is None and download:
        import torchvision.datasets as tvd

        getattr(tvd, tv_class)(str(root), download=True)
        folder = find_folder(candidates)
    if folder is None:
        raise missing(name, candidates, f"Pass --data-root pointing at a folder holding "
                      f"{tv_class}/raw/*.gz, or add --download to fetch it with torchvision.")
    return read_idx_folder(folder)


@DATASETS.register("mnist", num_classes=10, embedded=False, where="<data-root>/MNIST/raw",
                   native_size=28, channels=1, mean=(0.1307,), std=(0.3081,),
                   official_sizes=(60_000, 10_000))
def mnist(root: Path, download: bool) -> RawData:
    return load_idx_dataset("mnist", "MNIST", [root / "MNIST" / "raw"], root, download)


@DATASETS.register("fashion_mnist", num_classes=10, embedded=DEBIAN_FASHION.exists(),
                   where=f"<data-root>/FashionMNIST/raw or {DEBIAN_FASHION}",
                   native_size=28, channels=1,
                   official_sizes=(60_000, 10_000))
def fashion_mnist(root: Path, download: bool) -> RawData:
    return load_idx_dataset("fashion_mnist", "FashionMNIST",
                            [root / "FashionMNIST" / "raw", DEBIAN_FASHION], root, download)
