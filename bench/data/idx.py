"""MNIST and Fashion-MNIST from their IDX ``.gz`` files (torchvision layout), read directly."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.data.base import RawData, missing
from bench.errors import UserError
from bench.registry import DATASETS

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


REFETCH = "delete it and fetch it again (--download, or the torchvision MNIST mirrors)"


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes with ``ndim`` dimensions (gzip or plain).

    Every way a file can be damaged (empty, truncated, not gzip, wrong element type,
    fewer bytes than its header promises, images where labels belong) is a UserError
    naming the file, what is wrong, and how to get a good copy.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'} "
                        f"({type(exc).__name__}: {exc}); {REFETCH}") from None
    if len(data) < 4:
        raise UserError(f"{path}: {len(data)} bytes, too short for an IDX header; {REFETCH}")
    zero, dtype_code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise UserError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()}, "
                        f"expected 0000 08 0{ndim}); {REFETCH}")
    if dims != ndim:
        what = "images (N×28×28)" if ndim == 3 else "labels (N)"
        raise UserError(f"{path}: holds a {dims}-dimensional array where {what} belong "
                        "(images and labels swapped?); check the file names")
    if len(data) < 4 + 4 * dims:
        raise UserError(f"{path}: header cut short; {REFETCH}")
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    body = len(data) - 4 - 4 * dims
    if body != int(np.prod(shape)):
        raise UserError(f"{path}: header promises {int(np.prod(shape))} bytes of shape {shape}, "
                        f"the file has {body}; {REFETCH}")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_idx_folder(folder: Path) -> RawData:
    xs_tr, ys_tr, xs_te, ys_te = (read_idx(folder / f, 3 if "images" in f else 1) for f in FILES)
    for images, labels, name in ((xs_tr, ys_tr, FILES[0]), (xs_te, ys_te, FILES[2])):
        if len(images) != len(labels):
            raise UserError(f"{folder / name}: {len(images)} images but {len(labels)} labels; {REFETCH}")
        if labels.size and labels.max() > 9:
            raise UserError(f"{folder}: labels outside 0..9 (max {labels.max()}); {REFETCH}")
    img = lambda a: torch.from_numpy(a.copy()).float().unsqueeze(1) / 255.0  # noqa: E731
    lab = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return RawData(img(xs_tr), lab(ys_tr), img(xs_te), lab(ys_te))


def find_folder(candidates: list[Path]) -> Path | None:
    for folder in candidates:
        if all((folder / f).exists() for f in FILES):
            return folder
    return None


def idx_sources(candidates: Callable[[Path], list[Path]]) -> Callable[[Path], list[Path]]:
    """The four files an IDX dataset would be read from under a root (none when absent)."""
    def sources(root: Path) -> list[Path]:
        folder = find_folder(candidates(root))
        return [folder / f for f in FILES] if folder else []
    return sources


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
                   official_sizes=(60_000, 10_000), sources=idx_sources(lambda root: [root / "MNIST" / "raw"]))
def mnist(root: Path, download: bool) -> RawData:
    return load_idx_dataset("mnist", "MNIST", [root / "MNIST" / "raw"], root, download)


def fashion_folders(root: Path) -> list[Path]:
    """Where Fashion-MNIST's IDX files are looked for: the torchvision layout, then Debian's package."""
    return [root / "FashionMNIST" / "raw", DEBIAN_FASHION]


@DATASETS.register("fashion_mnist", num_classes=10, embedded=DEBIAN_FASHION.exists(),
                   where=f"<data-root>/FashionMNIST/raw or {DEBIAN_FASHION}",
                   native_size=28, channels=1,
                   official_sizes=(60_000, 10_000), sources=idx_sources(fashion_folders))
def fashion_mnist(root: Path, download: bool) -> RawData:
    return load_idx_dataset("fashion_mnist", "FashionMNIST", fashion_folders(root), root, download)

