"""Dataset loaders on tiny generated files in the real formats (IDX, CIFAR pickle, h5)."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bench.data import load_data
from bench.data.base import load_raw, stratified_subset
from bench.data.idx import FILES, read_idx
from bench.errors import UserError
from tests.conftest import SHARED_DATA


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def make_idx_folder(folder: Path, n_train: int = 40, n_test: int = 20) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_test, 28, 28)), np.arange(n_test) % 10]
    for name, arr in zip(FILES, arrays):
        write_idx(folder / name, arr)


def test_read_idx_roundtrip(tmp_path: Path):
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", arr)
    assert (read_idx(tmp_path / "x.gz", arr.ndim) == arr).all()


def test_mnist_from_generated_idx_files(tmp_path: Path):
    make_idx_folder(tmp_path / "MNIST" / "raw")
    data = load_data("mnist", tmp_path, size=32, n_train=20, seed=1)
    assert data.x_train.shape == (20, 1, 32, 32) and data.x_test.shape == (20, 1, 32, 32)
    assert torch.bincount(data.y_train).tolist() == [2] * 10  # stratified
    assert data.mean == (0.1307,)  # the DFAD/DAFL normalisation constant


def test_cifar_from_generated_pickles(tmp_path: Path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", 10) for i in range(1, 6)] + [("test_batch", 10)]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(range(10))}
        (folder / name).write_bytes(pickle.dumps(batch))
    data = load_data("cifar10", tmp_path, size=32)
    assert data.x_train.shape == (50, 3, 32, 32) and data.num_classes == 10


def test_usps_from_generated_h5(tmp_path: Path):
    (tmp_path / "usps").mkdir()
    with h5py.File(tmp_path / "usps" / "usps.h5", "w") as h5:
        for split, n in (("train", 30), ("test", 10)):
            h5.create_dataset(f"{split}/data", data=np.random.rand(n, 256).astype(np.float32))
            h5.create_dataset(f"{split}/target", data=np.arange(n) % 10)
    data = load_data("usps", tmp_path, size=8)
    assert data.x_train.shape == (30, 1, 8, 8)


def test_alternative_data_is_normalised_like_the_original(tmp_path: Path):
    digits = load_data("digits", tmp_path, size=8)
    make_idx_folder(tmp_path / "MNIST" / "raw")
    alt = load_data("mnist", tmp_path, size=8, normalise_as=digits)
    assert alt.mean == digits.mean and alt.x_train.shape[1:] == digits.x_train.shape[1:]


def test_digits_is_embedded_with_a_fixed_test_split():
    a = load_raw("digits", ".")
    data = load_data("digits", ".", size=8, n_train=100, seed=0)
    assert len(a.y_test) == 450 and len(a.y_train) == 1347
    assert data.x_train.shape == (100, 1, 8, 8)
    assert abs(float(load_data("digits", ".", size=8).x_train.mean())) < 1e-5


def test_stratified_subset_is_seeded_and_balanced():
    y = torch.arange(1000) % 10
    a, b = stratified_subset(y, 50, 3), stratified_subset(y, 50, 3)
    assert torch.equal(a, b) and not torch.equal(a, stratified_subset(y, 50, 4))
    assert torch.bincount(y[a]).tolist() == [5] * 10
    with pytest.raises(UserError, match="larger than the training set"):
        stratified_subset(y, 5000, 0)


def test_missing_dataset_names_path_and_fix(tmp_path: Path):
    with pytest.raises(UserError, match=r"dataset 'mnist' not found \(looked in: .*MNIST/raw\).*--download"):
        load_data("mnist", tmp_path / "nowhere", size=32)


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").exists(),
                    reason="shared/data/MNIST not present beside the checkout")
def test_real_mnist_loads_from_shared_data():
    data = load_data("mnist", SHARED_DATA, size=32, n_train=1000, seed=0)
    assert data.x_test.shape == (10000, 1, 32, 32)
    assert torch.bincount(data.y_train).min() >= 90


def write_jpegs(folder: Path, n: int, size: int = 20, suffix: str = ".jpg") -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.random.randint(0, 255, (size, size + 3, 3), dtype=np.uint8)).save(folder / f"{i}{suffix}", format="JPEG")


def test_caltech101_from_a_generated_folder(tmp_path: Path):
    base = tmp_path / "caltech101" / "101_ObjectCategories"
    for name in ("accordion", "airplanes", "BACKGROUND_Google"):
        write_jpegs(base / name, 5)
    data = load_data("caltech101", tmp_path, size=128)
    assert data.x_train.shape[1:] == (3, 128, 128) and len(data.y_train) + len(data.y_test) == 10
    assert set(data.y_train.tolist()) == {0, 1}  # background left out


def test_tiny_imagenet_from_a_generated_folder(tmp_path: Path):
    base = tmp_path / "tiny-imagenet-200"
    wnids = ["n01", "n02"]
    base.mkdir()
    (base / "wnids.txt").write_text("\n".join(wnids))
    for w in wnids:
        write_jpegs(base / "train" / w / "images", 3, 64, ".JPEG")
    write_jpegs(base / "val" / "images", 2, 64)
    (base / "val" / "val_annotations.txt").write_text("0.jpg\tn02\t0\t0\t1\t1\n1.jpg\tn01\t0\t0\t1\t1\n")
    data = load_data("tiny_imagenet", tmp_path, size=64)
    assert data.x_train.shape == (6, 3, 64, 64) and data.y_test.tolist() == [1, 0]


def test_svhn_from_generated_mat_files_maps_label_10_to_0(tmp_path: Path):
    from scipy.io import savemat

    (tmp_path / "svhn").mkdir()
    for name in ("train_32x32.mat", "test_32x32.mat"):
        savemat(tmp_path / "svhn" / name, {"X": np.zeros((32, 32, 3, 4), dtype=np.uint8),
                                           "y": np.array([[10], [1], [2], [10]])})
    data = load_data("svhn", tmp_path, size=32)
    assert data.x_train.shape == (4, 3, 32, 32) and data.y_train.tolist() == [0, 1, 2, 0]


def test_caltech101_uses_dfads_split_folders_when_present(tmp_path: Path):
    split = tmp_path / "caltech101" / "101_ObjectCategories_split"
    for part, n in (("train", 3), ("test", 2)):
        for name in ("accordion", "airplanes"):
            write_jpegs(split / part / name, n, size=120)
    raw = load_raw("caltech101", str(tmp_path))
    assert raw.x_train.shape == (6, 3, 128, 128) and raw.x_test.shape == (4, 3, 128, 128)
    assert raw.departures == ()  # DFAD's own split: nothing to report
    data = load_data("caltech101", tmp_path, size=128)
    assert data.mean == (0.5, 0.5, 0.5)  # C:DFAD Normalize(0.5, 0.5)
