"""Datasets too large for memory, streamed from image folders through a DataLoader.

Each is read in its official layout (what its download unpacks to; MAD §5.1's large sets):

- ``imagenet``: ``<data-root>/imagenet/{train,val}/<wnid>/<image>`` (the layout torchvision's
  ImageFolder reads; the validation images sorted into class folders, e.g. by ``valprep.sh``).
- ``places365``: ``<data-root>/places365/`` as torchvision's ``Places365(small=True)`` unpacks
  it: ``categories_places365.txt``, ``places365_train_standard.txt``, ``places365_val.txt``,
  ``data_256/`` and ``val_256/`` (the 256x256 images; 365 classes, 1,803,460 / 36,500).
- ``food101``: ``<data-root>/food-101/`` as the ETH archive unpacks it: ``images/<class>/<id>.jpg``
  with ``meta/classes.txt``, ``meta/train.txt`` and ``meta/test.txt`` (101 classes, 75,750 / 25,250).

Images are decoded by DataLoader workers with the standard ImageNet transforms:
RandomResizedCrop to the net's input size and horizontal flips for training, resize to
size / 0.875 and centre crop for evaluation, normalised by ImageNet's mean and std.

Every random draw of a training image is seeded by (run seed, epoch, position in the epoch),
so a batch does not depend on the number of workers, and a resumed run continues with the
batches it would have drawn (the in-memory datasets' contract, bench/train.py).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from bench.data.base import missing
from bench.registry import DATASETS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def loader_workers() -> int:
    """``$BENCH_LOADER_WORKERS`` or min(8, CPUs): DataLoader processes decoding images."""
    return int(os.environ.get("BENCH_LOADER_WORKERS", min(8, os.cpu_count() or 1)))


def folder_samples(folder: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(path, class index) of every image under ``folder/<class>/``, sorted (ImageFolder's order)."""
    return [(str(p), i) for i, c in enumerate(classes) for p in sorted((folder / c).iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES]


def sample_seed(seed: int, epoch: int, position: int) -> int:
    return int(hashlib.sha256(f"{seed}:{epoch}:{position}".encode()).hexdigest()[:8], 16)


class Images(Dataset):
    """Decoded, transformed images of ``samples``; item ``(position, index)`` draws its random
    transform from a generator seeded by (seed, epoch, position)."""

    def __init__(self, samples: list[tuple[str, int]], size: int, train: bool, seed: int = 0, epoch: int = 0):
        from torchvision import transforms as T  # loaded only where images are streamed

        self.samples, self.seed, self.epoch = samples, seed, epoch
        norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
        self.transform = T.Compose(([T.RandomResizedCrop(size), T.RandomHorizontalFlip()] if train else
                                    [T.Resize(round(size / 0.875)), T.CenterCrop(size)]) + norm)
        self.train = train

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item):
        position, index = item if isinstance(item, tuple) else (item, item)
        from PIL import Image

        path, label = self.samples[index]
        with Image.open(path) as img:
            img = img.convert("RGB")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(self.seed, self.epoch, position))
                x = self.transform(img)
        return x, label


@dataclass
class StreamedData:
    """The ``ctx.data`` of a streamed dataset: labels in memory, images decoded per batch."""

    name: str
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
    num_classes: int
    size: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    departures: tuple[str, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    streaming = True

    @property
    def y_train(self) -> torch.Tensor:
        return torch.tensor([y for _, y in self.train], device=self.device)

    @property
    def y_test(self) -> torch.Tensor:
        return torch.tensor([y for _, y in self.test], device=self.device)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def to(self, device: torch.device) -> StreamedData:
        self.device = device
        return self

    def train_epoch(self, order: torch.Tensor, start: int, seed: int, epoch: int,
                    batch_size: int) -> Iterator[torch.Tensor]:
        """Image batches of one epoch in ``order``, from position ``start`` on (a resume)."""
        dataset = Images(self.train, self.size, True, seed, epoch)
        items = [(p, int(i)) for p, i in enumerate(order.tolist())][start:]
        loader = DataLoader(dataset, batch_size=batch_size, sampler=items, num_workers=loader_workers(),
                            pin_memory=self.device.type == "cuda", persistent_workers=False)
        for x, _ in loader:
            yield x.to(self.device, non_blocking=True)

    def test_batches(self, batch_size: int = 250) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = DataLoader(Images(self.test, self.size, False), batch_size=batch_size,
                            num_workers=loader_workers(), pin_memory=self.device.type == "cuda")
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device)


def imagenet_folders(root: Path, size: int) -> StreamedData:
    """ImageNet (ILSVRC 2012) in class folders; see the module docstring for the layout."""
    base = root / "imagenet"
    train, val = base / "train", base / "val"
    if not (train.is_dir() and val.is_dir()):
        raise missing("imagenet", [train, val], "Put the ILSVRC 2012 training images in train/<wnid>/ and the "
                      "validation images sorted into val/<wnid>/ (e.g. with valprep.sh).")
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    return StreamedData("imagenet", folder_samples(train, classes), folder_samples(val, classes), 1000, size)


def listed_samples(listing: Path, image_root: Path) -> list[tuple[str, int]]:
    """(path, class) of each "<relative path> <class index>" line of a Places365 file list."""
    samples = []
    for line in listing.read_text().splitlines():
        if line.strip():
            name, label = line.rsplit(maxsplit=1)
            samples.append((str(image_root / name.lstrip("/")), int(label)))
    return samples


def places365_folders(root: Path, size: int) -> StreamedData:
    """Places365-Standard, small images (torchvision's layout; see the module docstring)."""
    base = root / "places365"
    needed = [base / "places365_train_standard.txt", base / "places365_val.txt", base / "data_256",
              base / "val_256"]
    if not all(p.exists() for p in needed):
        raise missing("places365", needed, "Unpack the official Places365-Standard small-image archives "
                      "(places365standard_easyformat filelist, train_256_places365standard.tar, "
                      "val_256.tar) there, as torchvision.datasets.Places365(small=True) does.")
    return StreamedData("places365", listed_samples(needed[0], needed[2]), listed_samples(needed[1], needed[3]),
                        365, size)


def food101_folders(root: Path, size: int) -> StreamedData:
    """Food-101 with its official train/test split (see the module docstring)."""
    base = root / "food-101"
    meta = base / "meta"
    needed = [meta / "classes.txt", meta / "train.txt", meta / "test.txt", base / "images"]
    if not all(p.exists() for p in needed):
        raise missing("food101", needed, "Unpack food-101.tar.gz (ETH Zurich's archive, also what "
                      "torchvision.datasets.Food101 downloads) under the data root.")
    classes = meta.joinpath("classes.txt").read_text().split()
    index = {c: i for i, c in enumerate(classes)}

    def split(listing: Path) -> list[tuple[str, int]]:
        names = listing.read_text().split()  # "<class>/<id>" per line
        return [(str(base / "images" / f"{n}.jpg"), index[n.split("/")[0]]) for n in names]

    return StreamedData("food101", split(needed[1]), split(needed[2]), 101, size)


def register_streamed(name: str, build, num_classes: int, where: str, sizes: tuple[int, int]) -> None:
    """A streamed dataset at the ImageNet nets' input size (224) unless a run asks otherwise."""
    DATASETS.register(name, num_classes=num_classes, embedded=False, streaming=build, channels=3, where=where,
                      native_size=224, official_sizes=sizes, mean=IMAGENET_MEAN, std=IMAGENET_STD)(
        lambda root, download: build(root, 224))


register_streamed("imagenet", imagenet_folders, 1000, "<data-root>/imagenet/{train,val}/<wnid>/*.JPEG",
                  (1_281_167, 50_000))
register_streamed("places365", places365_folders, 365,
                  "<data-root>/places365/{places365_train_standard.txt,places365_val.txt,data_256/,val_256/}",
                  (1_803_460, 36_500))
register_streamed("food101", food101_folders, 101,
                  "<data-root>/food-101/{images/<class>/*.jpg,meta/{classes,train,test}.txt}", (75_750, 25_250))
