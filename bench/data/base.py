"""Data containers, resizing/normalisation, stratified subsets and index batching."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.augment import NONE, Augment
from bench.errors import UserError
from bench.registry import DATASETS


@dataclass
class RawData:
    """Images as float32 tensors in [0, 1], shape (N, C, H, W), and int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    departures: tuple[str, ...] = ()
    """How this copy departs from the papers' data, when that depends on what was found."""


@dataclass
class Data:
    """Normalised, resized tensors handed to a method through ``ctx.data``."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment = NONE
    """The dataset's training augmentation (applied by the epoch loop, never to test data)."""
    departures: tuple[str, ...] = ()
    """See RawData.departures."""

    @property
    def black(self) -> torch.Tensor:
        """A black pixel in normalised input space: what padding fills with."""
        return -torch.tensor(self.mean) / torch.tensor(self.std)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device) -> Data:
        move = lambda t: t.to(device)  # noqa: E731
        return Data(self.name, move(self.x_train), move(self.y_train), move(self.x_test),
                    move(self.y_test), self.num_classes, self.mean, self.std, self.augment,
                    self.departures)


def default_data_root() -> Path:
    return Path(os.environ.get("BENCH_DATA", "data"))


@functools.lru_cache(maxsize=8)
def load_raw(name: str, root: str, download: bool = False) -> RawData:
    """Load a registered dataset's raw tensors once per process."""
    entry = DATASETS.get(name)
    return entry.obj(Path(root), download)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True).clamp_(0.0, 1.0)


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    return x.expand(-1, channels, -1, -1).contiguous()


def stratified_subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a class-balanced random subset of size n (same seed, same subset)."""
    if n > len(y):
        raise UserError(f"n_train={n} is larger than the training set ({len(y)} images)")
    rng = np.random.default_rng(seed)
    y_np = y.numpy()
    classes, counts = np.unique(y_np, return_counts=True)
    quota = np.floor(counts / counts.sum() * n).astype(int)
    order = np.argsort(-(counts / counts.sum() * n - quota))  # largest remainders first
    quota[order[: n - quota.sum()]] += 1
    picked = [rng.permutation(np.flatnonzero(y_np == c))[:q] for c, q in zip(classes, quota)]
    return torch.from_numpy(np.sort(np.concatenate(picked)))


def load_data(name: str, root: str | Path, size: int, channels: int | None = None,
              n_train: int | None = None, seed: int = 0, download: bool = False,
              normalise_as: Data | None = None) -> Data:
    """Dataset ``name`` resized to ``size``, normalised, with an optional train subset.

    ``normalise_as`` reuses another dataset's channels and statistics: alternative
    data for KD-REL/KD-UNR must look like the teacher's own inputs.
    """
    entry = DATASETS.get(name)
    raw = load_raw(name, str(root), download)
    channels = channels or (normalise_as.input_shape[0] if normalise_as else raw.x_train.shape[1])
    x_train = match_channels(resize(raw.x_train, size), channels)
    x_test = match_channels(resize(raw.x_test, size), channels)
    y_train = raw.y_train
    if n_train is not None:
        keep = stratified_subset(y_train, n_train, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    if normalise_as is not None:
        mean, std = normalise_as.mean, normalise_as.std
    elif entry.meta.get("mean"):
        mean, std = tuple(entry.meta["mean"]), tuple(entry.meta["std"])
    else:  # statistics of the full training set, so they do not depend on the subset
        full = match_channels(resize(raw.x_train, size), channels)
        mean = tuple(full.mean(dim=(0, 2, 3)).tolist())
        std = tuple(full.std(dim=(0, 2, 3)).tolist())
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return Data(name, (x_train - m) / s, y_train, (x_test - m) / s, raw.y_test,
                entry.meta["num_classes"], mean, std, entry.meta.get("augment", NONE), raw.departures)


def batches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = False):
    """Yield index tensors of a seeded random permutation of range(n)."""
    order = torch.randperm(n, generator=generator)
    stop = n - batch_size + 1 if drop_last else n
    for start in range(0, max(stop, 1), batch_size):
        chunk = order[start:start + batch_size]
        if len(chunk):
            yield chunk


def missing(name: str, looked: list[Path], how: str) -> UserError:
    paths = ", ".join(str(p) for p in looked)
    return UserError(f"dataset {name!r} not found (looked in: {paths}). {how}")
