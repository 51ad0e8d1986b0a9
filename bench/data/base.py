"""Data containers, resizing/normalisation, stratified subsets and index batching."""
from __future__ import annotations

import dataclasses
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

    def test_batches(self, batch_size: int = 500):
        """(x, y) slices of the test set: the interface streamed datasets share."""
        for i in range(0, len(self.x_test), batch_size):
            yield self.x_test[i:i + batch_size], self.y_test[i:i + batch_size]

    def to(self, device: torch.device) -> Data:
        return dataclasses.replace(self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
                                   x_test=self.x_test.to(device), y_test=self.y_test.to(device))


@dataclass
class SegmentationData(Data):
    """Images with a class per pixel (``y``: (N, H, W) masks, ``IGNORE`` where unlabelled).
    The nets train on the augmentation's crops, so ``input_shape`` is the crop's (what a
    generator must produce); tests run on the whole images."""

    ignore_index: int = 255

    @property
    def input_shape(self) -> tuple[int, int, int]:
        size = self.augment.crop or self.x_train.shape[-1]
        return (self.x_train.shape[1], size, size)

    def test_batches(self, batch_size: int = 16):
        return super().test_batches(batch_size)


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


def last_subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """The last n images of the training file (KDGAN's MNIST code, methods_spec §9)."""
    if n > len(y):
        raise UserError(f"n_train={n} is larger than the training set ({len(y)} images)")
    return torch.arange(len(y) - n, len(y))


def first_per_class_subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """The first n/C images of each class in file order (KDGAN's CIFAR-10 code: the first
    n/10 of each class of data_batch_1)."""
    classes = torch.unique(y)
    if n % len(classes):
        raise UserError(f"n_train={n} is not a multiple of the {len(classes)} classes "
                        "(train_subset 'first_per_class' takes n/C images of each class)")
    picked = [torch.nonzero(y == c).flatten()[: n // len(classes)] for c in classes]
    short = [int(c) for c, p in zip(classes, picked) if len(p) < n // len(classes)]
    if short:
        raise UserError(f"n_train={n}: classes {short} have fewer than {n // len(classes)} training images")
    return torch.sort(torch.cat(picked)).values


SUBSETS = {"stratified": stratified_subset, "last": last_subset, "first_per_class": first_per_class_subset}
"""How a training subset of size n_train is drawn (``DataChoice.train_subset``)."""


@dataclass(frozen=True)
class DataChoice:
    """Data fields a method config may carry; ``ctx.data`` reads them from the spec.

    Defaults are the harness's (seeded class-balanced subsets, normalised inputs); the
    KDGAN family sets its code's choices (the last n MNIST images, raw [0, 1] pixels)."""

    train_subset: str = "stratified"
    """stratified (seeded, class-balanced) | last (last n of the file) | first_per_class."""
    normalise: str = "dataset"
    """One of NORMALISATIONS: dataset (channel statistics) | none ([0, 1] pixels) |
    pixel_mean (subtract the training set's mean image) | per_image (each image to zero
    mean, unit variance, TF's per_image_standardization)."""

    def __post_init__(self):
        if self.train_subset not in SUBSETS:
            raise ValueError(f"train_subset must be one of {', '.join(SUBSETS)}, got {self.train_subset!r}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {self.normalise!r}")


NORMALISATIONS = ("dataset", "none", "pixel_mean", "per_image")


def per_image_standardise(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / max(std, 1/sqrt(numel)) per image (TF's per_image_standardization)."""
    flat = x.flatten(1)
    std = flat.std(dim=1, unbiased=False).clamp_min(1.0 / flat.shape[1] ** 0.5)
    return ((flat - flat.mean(dim=1, keepdim=True)) / std[:, None]).view_as(x)


def load_data(name: str, root: str | Path, size: int, channels: int | None = None,
              n_train: int | None = None, seed: int = 0, download: bool = False,
              normalise_as: Data | None = None, subset: str = "stratified",
              normalise: str = "dataset") -> Data:
    """Dataset ``name`` resized to ``size``, normalised, with an optional train subset.

    ``normalise_as`` reuses another dataset's channels and statistics: alternative
    data for KD-REL/KD-UNR must look like the teacher's own inputs. ``subset`` names
    one of SUBSETS; ``normalise`` one of NORMALISATIONS (the recorded mean/std then
    describe where a black pixel lands: what crop padding fills with).
    """
    entry = DATASETS.get(name)
    if entry.meta.get("streaming"):  # image folders decoded per batch (bench/data/stream.py)
        return streamed_data(name, entry, Path(root), size, n_train, seed, subset)
    raw = load_raw(name, str(root), download)
    if entry.meta.get("task") == "segmentation":
        return _segmentation(name, entry, raw, normalise_as)
    if entry.meta.get("split") == "random":
        return _random_split(name, raw, n_train, seed, subset, normalise)
    if raw.x_train.dim() == 2:
        return _features(name, entry, raw, n_train, seed, subset, normalise)
    channels = channels or (normalise_as.input_shape[0] if normalise_as else raw.x_train.shape[1])
    x_train = match_channels(resize(raw.x_train, size), channels)
    x_test = match_channels(resize(raw.x_test, size), channels)
    y_train = raw.y_train
    if n_train is not None:
        keep = SUBSETS[subset](y_train, n_train, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    if normalise_as is not None:
        mean, std = normalise_as.mean, normalise_as.std
    elif normalise != "dataset":
        return _normalised_otherwise(name, entry, raw, x_train, y_train, x_test, channels, size, normalise)
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


def streamed_data(name, entry, root: Path, size: int, n_train: int | None, seed: int, subset: str):
    """A streamed dataset at the net's input size, with an optional training subset."""
    data = entry.meta["streaming"](root, size)
    if n_train is not None:
        keep = SUBSETS[subset](torch.tensor([y for _, y in data.train]), n_train, seed)
        data.train = [data.train[i] for i in keep.tolist()]
    return data


def _segmentation(name, entry, raw, normalise_as) -> SegmentationData:
    """Masks and images at the size they were stored (bench/data/segmentation.py), normalised
    with the dataset's (or, for alternative images, the teacher's data's) statistics."""
    mean, std = ((normalise_as.mean, normalise_as.std) if normalise_as is not None
                 else (tuple(entry.meta["mean"]), tuple(entry.meta["std"])))
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    return SegmentationData(name, (raw.x_train - m) / s, raw.y_train, (raw.x_test - m) / s, raw.y_test,
                            entry.meta["num_classes"], mean, std, entry.meta["augment"], raw.departures)


def _features(name, entry, raw, n_train, seed, subset, normalise) -> Data:
    """Feature-vector data (tag recommendation, bench/data/tags.py): used as stored (the
    features were extracted by other nets; no resizing or normalisation), the training
    subset a seeded random one (tags have no classes to stratify by)."""
    if subset != "stratified" or normalise != "dataset":
        raise UserError(f"dataset {name!r} holds feature vectors: train_subset must be 'stratified' "
                        f"(a seeded random subset) and normalise 'dataset' (as stored), got "
                        f"{subset!r} / {normalise!r}")
    x_train, y_train = raw.x_train, raw.y_train
    if n_train is not None:
        if n_train > len(y_train):
            raise UserError(f"n_train={n_train} is larger than the training set ({len(y_train)} images)")
        keep = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(y_train))[:n_train]))
        x_train, y_train = x_train[keep], y_train[keep]
    return Data(name, x_train, y_train, raw.x_test, raw.y_test, entry.meta["num_classes"], (0.0,), (1.0,),
                NONE, raw.departures)


def _random_split(name, raw, n_train, seed, subset, normalise) -> Data:
    """A tabular pool (bench/data/tabular.py) split uniformly at random by the run's seed:
    ``n_train`` rows to train on (half the pool when not given), the rest to test on
    (P:gantsc §3). Features are used as stored: forests need no scaling."""
    if subset != "stratified" or normalise != "dataset":
        raise UserError(f"dataset {name!r} is tabular: train_subset must be 'stratified' and normalise "
                        f"'dataset' (a seeded uniform split, features as stored), got {subset!r} / {normalise!r}")
    n = len(raw.y_train)
    n_train = n // 2 if n_train is None else n_train
    if n_train >= n:
        raise UserError(f"n_train={n_train} leaves no test rows: dataset {name!r} has {n} rows; "
                        f"choose n_train < {n}")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    train, test = order[:n_train], order[n_train:]
    return Data(name, raw.x_train[train], raw.y_train[train], raw.x_train[test], raw.y_train[test],
                int(raw.y_train.max()) + 1, (0.0,), (1.0,), NONE, raw.departures)


def _normalised_otherwise(name, entry, raw, x_train, y_train, x_test, channels, size, mode) -> Data:
    """KDGAN's inputs: raw pixels (MNIST), the training set's mean image subtracted
    (its paper, CIFAR) or per-image standardisation (its CIFAR code)."""
    zeros = (0.0,) * channels
    if mode == "pixel_mean":  # the mean image of the full training set, so subsets share it
        mean_image = match_channels(resize(raw.x_train, size), channels).mean(dim=0, keepdim=True)
        x_train, x_test = x_train - mean_image, x_test - mean_image
        zeros = tuple(mean_image.mean(dim=(0, 2, 3)).tolist())
    elif mode == "per_image":
        x_train, x_test = per_image_standardise(x_train), per_image_standardise(x_test)
    return Data(name, x_train, y_train, x_test, raw.y_test, entry.meta["num_classes"], zeros,
                (1.0,) * channels, entry.meta.get("augment", NONE), raw.departures)


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
