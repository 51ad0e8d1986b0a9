"""CIFAR-10 and CIFAR-100 from torchvision's python pickles, held in memory."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from bench.data.augment import Augment
from bench.data.base import RawData, missing
from bench.registry import DATASETS

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # DFAD/DAFL dataloaders (methods_spec §0)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
CIFAR_AUGMENT = Augment(crop=32, pad=4, flip=True)  # C:DFAD, DAFL, CMI train transforms


def read_batches(folder: Path, names: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for name in names:
        with open(folder / name, "rb") as fh:
            batch = pickle.load(fh, encoding="latin1")
        xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)).float() / 255.0, torch.from_numpy(np.concatenate(ys))


def load_cifar(name: str, tv_class: str, folder: Path, train: list[str], test: list[str],
               label_key: str, root: Path, download: bool) -> RawData:
    if not all((folder / f).exists() for f in train + test) and download:
        import torchvision.datasets as tvd

        getattr(tvd, tv_class)(str(root), download=True)
    if not all((folder / f).exists() for f in train + test):
        raise missing(name, [folder], f"Pass --data-root holding {folder.name}/ "
                      "(torchvision's python version), or add --download.")
    x_tr, y_tr = read_batches(folder, train, label_key)
    x_te, y_te = read_batches(folder, test, label_key)
    return RawData(x_tr, y_tr, x_te, y_te)


CIFAR10_FILES = ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"])
CIFAR100_FILES = ("cifar-100-python", ["train"], ["test"])


def pickles(folder: str, train: list[str], test: list[str]):
    """The files a CIFAR dataset is read from under a root: its data fingerprint is
    remembered under their stamps (bench.results.fingerprint)."""
    return lambda root: [Path(root) / folder / f for f in train + test]


@DATASETS.register("cifar10", num_classes=10, embedded=False, where="<data-root>/cifar-10-batches-py",
                   native_size=32, channels=3, mean=CIFAR_MEAN, std=CIFAR_STD, augment=CIFAR_AUGMENT,
                   official_sizes=(50_000, 10_000), sources=pickles(*CIFAR10_FILES))
def cifar10(root: Path, download: bool) -> RawData:
    folder, train, test = CIFAR10_FILES
    return load_cifar("cifar10", "CIFAR10", root / folder, train, test, "labels", root, download)


@DATASETS.register("cifar100", num_classes=100, embedded=False, where="<data-root>/cifar-100-python",
                   native_size=32, channels=3, mean=CIFAR_MEAN, std=CIFAR_STD, augment=CIFAR_AUGMENT,
                   official_sizes=(50_000, 10_000), sources=pickles(*CIFAR100_FILES))
def cifar100(root: Path, download: bool) -> RawData:
    folder, train, test = CIFAR100_FILES
    return load_cifar("cifar100", "CIFAR100", root / folder, train, test, "fine_labels", root, download)
