"""Image-folder datasets in their usual layouts, decoded once into memory.

- ``caltech101``: DFAD's split ``<root>/caltech101/101_ObjectCategories_split/{train,test}/<class>``
  when present, else ``<root>/caltech101/101_ObjectCategories/<class>/*.jpg`` (torchvision's
  layout) with a fixed stratified 80/20 split; BACKGROUND_Google is left out (101 classes).
- ``tiny_imagenet``: ``<root>/tiny-imagenet-200/`` with ``wnids.txt``,
  ``train/<wnid>/images/*.JPEG`` and ``val/images`` + ``val/val_annotations.txt`` (the
  validation set is the test set, as usual).
Caltech101 is prepared as DFAD's code does for testing (C:DFAD: resize the short side
to 128, centre crop 128, normalise with 0.5s). DFAD trains on random 128-crops of the
short-side-128 image plus flips; the in-memory store keeps the centre crop, so only
the flip is reproduced (a departure the report lists). TinyImageNet is 64x64 already.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.errors import UserError

from bench.data.augment import Augment
from bench.data.base import RawData, missing
from bench.registry import DATASETS


def short_side_center_crop(img, size: int):
    """torchvision's Resize(size) (short side to ``size``, bilinear) then CenterCrop(size)."""
    from PIL import Image  # loaded where images are read: not for --list or --dry-run

    w, h = img.size
    scale = size / min(w, h)
    w2, h2 = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((w2, h2), Image.BILINEAR)
    left, top = round((w2 - size) / 2), round((h2 - size) / 2)
    return img.crop((left, top, left + size, top + size))


def read_images(paths: list[Path], size: int) -> torch.Tensor:
    from PIL import Image

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                out[i] = np.asarray(short_side_center_crop(img.convert("RGB"), size))
        except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise UserError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc}); "
                            "replace or remove it") from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


@DATASETS.register("caltech101", num_classes=101, embedded=False,
                   where="<data-root>/caltech101/101_ObjectCategories_split/{train,test} (DFAD's split) "
                         "or <data-root>/caltech101/101_ObjectCategories",
                   native_size=128, channels=3,
                   mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), augment=Augment(flip=True),
                   departures=("Caltech101: training images are the centre 128-crop of the short-side-128 "
                               "image, flipped at random; DFAD crops them at random positions",))
def caltech101(root: Path, download: bool) -> RawData:
    """DFAD's own split when present (C:DFAD data/split_caltech101.py: 20% of each class,
    at least 2, as test; the README links the split folder), else a fixed stratified
    80/20 split (seed 0) of 101_ObjectCategories, which the report names as a departure."""
    base = root / "caltech101"
    split, folder = base / "101_ObjectCategories_split", base / "101_ObjectCategories"
    if (split / "train").is_dir() and (split / "test").is_dir():
        classes = sorted(d.name for d in (split / "train").iterdir() if d.is_dir() and d.name != "BACKGROUND_Google")
        parts = []
        for part in ("train", "test"):
            items = [(p, label) for label, name in enumerate(classes) for p in image_files(split / part / name)]
            parts.append((read_images([p for p, _ in items], 128), torch.tensor([y for _, y in items])))
        (x_tr, y_tr), (x_te, y_te) = parts
        return RawData(x_tr, y_tr, x_te, y_te)
    if not folder.is_dir():
        raise missing("caltech101", [split, folder], "Unpack DFAD's 101_ObjectCategories_split.zip (linked "
                      "from its README) or 101_ObjectCategories.tar.gz (torchvision's layout) there.")
    from sklearn.model_selection import train_test_split  # here: 1.6 s of start-up otherwise

    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and d.name != "BACKGROUND_Google")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = image_files(folder / name)
        paths += files
        labels += [label] * len(files)
    few = [f"{name} ({labels.count(k)})" for k, name in enumerate(classes) if labels.count(k) < 2]
    if few:  # the stratified split puts at least one image of each class in train and in test
        raise UserError(f"{folder}: every class folder needs at least 2 images (one to train on, one to "
                        f"test); these have fewer: {', '.join(few[:10])}{' ...' if len(few) > 10 else ''}")
    tr, te = train_test_split(np.arange(len(paths)), test_size=0.2, stratify=labels, random_state=0)
    y = torch.tensor(labels)
    raw = RawData(read_images([paths[i] for i in tr], 128), y[tr], read_images([paths[i] for i in te], 128), y[te])
    raw.departures = ("Caltech101: no DFAD split folder found; a fixed stratified 80/20 split (seed 0) "
                      "of 101_ObjectCategories is used instead",)
    return raw


@DATASETS.register("tiny_imagenet", num_classes=200, embedded=False,
                   where="<data-root>/tiny-imagenet-200", native_size=64, channels=3,
                   augment=Augment(crop=64, pad=4, flip=True), official_sizes=(100_000, 10_000),
                   mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))  # C:CMI registry.py: tiny_imagenet 0.5s
def tiny_imagenet(root: Path, download: bool) -> RawData:
    folder = root / "tiny-imagenet-200"
    if not (folder / "wnids.txt").exists():
        raise missing("tiny_imagenet", [folder], "Unpack tiny-imagenet-200.zip there.")
    wnids = (folder / "wnids.txt").read_text().split()
    index = {w: i for i, w in enumerate(wnids)}
    train = [(p, index[w]) for w in wnids for p in sorted((folder / "train" / w / "images").glob("*.JPEG"))]
    val = [(folder / "val" / "images" / line.split("\t")[0], index[line.split("\t")[1]])
           for line in (folder / "val" / "val_annotations.txt").read_text().splitlines() if line.strip()]
    as_tensors = lambda items: (read_images([p for p, _ in items], 64),  # noqa: E731
                                torch.tensor([y for _, y in items]))
    (x_tr, y_tr), (x_te, y_te) = as_tensors(train), as_tensors(val)
    return RawData(x_tr, y_tr, x_te, y_te)
