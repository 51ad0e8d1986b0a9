"""Training augmentation: crops and flips happen, are seeded by (seed, step), follow the
dataset's declaration, and never touch test data."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.context import RunContext
from bench.data import load_data
from bench.data.augment import Augment, augment_batch, step_generator
from bench.registry import DATASETS
from bench.results.store import Store
from bench.train import EpochRecipe, train_epochs
from tests.conftest import make_spec


def test_crop_with_padding_shifts_the_image_and_fills_with_black():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = augment_batch(x, Augment(crop=4, pad=2), step_generator(0, 0), fill=torch.tensor([-7.0]))
    assert out.shape == x.shape
    shifted = [not torch.equal(o, x[0]) for o in out]
    assert sum(shifted) > 48  # 1 in 25 offsets is the identity
    assert (out == -7.0).any(), "padding must use the normalised black value"
    # every output pixel is either an input pixel or the fill: a crop, not a resampling
    assert set(out.unique().tolist()) <= set(range(16)) | {-7.0}


def test_flip_mirrors_about_half_of_the_batch():
    x = torch.randn(200, 3, 5, 5)
    out = augment_batch(x, Augment(flip=True), step_generator(1, 3))
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((flipped | kept).all())
    assert 60 < int(flipped.sum()) < 140


def test_same_seed_and_step_give_the_same_batch_whatever_came_before():
    x = torch.randn(32, 3, 8, 8)
    aug = Augment(crop=8, pad=2, flip=True)
    a = augment_batch(x, aug, step_generator(5, 17))
    augment_batch(x, aug, step_generator(5, 16))  # another step in between changes nothing
    b = augment_batch(x, aug, step_generator(5, 17))
    c = augment_batch(x, aug, step_generator(6, 17))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_registry_declares_the_official_codes_augmentations():
    cifar = Augment(crop=32, pad=4, flip=True)
    assert DATASETS.get("cifar10").meta["augment"] == cifar == DATASETS.get("cifar100").meta["augment"]
    assert DATASETS.get("tiny_imagenet").meta["augment"] == Augment(crop=64, pad=4, flip=True)
    assert DATASETS.get("caltech101").meta["augment"].flip
    for name in ("mnist", "digits", "usps", "fashion_mnist"):
        assert "augment" not in DATASETS.get(name).meta  # MNIST-like sets: none


def write_cifar(root: Path, n: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(np.arange(n) % 10)}
        (folder / name).write_bytes(pickle.dumps(batch))


class Spy(nn.Module):
    """A linear classifier that records what it is fed in train and in eval mode."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 10)
        self.train_inputs: list[torch.Tensor] = []
        self.eval_inputs: list[torch.Tensor] = []

    def forward(self, x):
        (self.train_inputs if self.training else self.eval_inputs).append(x.detach().clone())
        return self.fc(x.flatten(1))


def spy_training(tmp_path: Path, augment: bool) -> tuple[Spy, RunContext]:
    spec = make_spec("teacher", "resnet18_8x", {"epochs": 2, "batch_size": 25}, dataset="cifar10")
    ctx = RunContext(spec, Store(tmp_path / "r"), tmp_path, torch.device("cpu"), show_progress=False)
    spy = Spy()
    recipe = EpochRecipe(epochs=2, batch_size=25, augment=augment)
    train_epochs(ctx, spy, recipe, inputs=ctx.data.x_train, targets=ctx.data.y_train,
                 batch_loss=lambda b: nn.functional.cross_entropy(spy(b.x), b.y))
    return spy, ctx


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    write_cifar(tmp_path)
    return tmp_path


def test_epoch_loop_augments_training_batches_only(cifar_root: Path):
    spy, ctx = spy_training(cifar_root, augment=True)
    data = ctx.data
    assert len(spy.train_inputs) == 2 * 4  # 100 images, batch 25, 2 epochs
    raw_rows = {tuple(x.flatten().tolist()[:20]) for x in data.x_train}
    changed = sum(tuple(x.flatten().tolist()[:20]) not in raw_rows for b in spy.train_inputs for x in b)
    assert changed > 150, "crops/flips must change most training images"
    assert all(torch.equal(x, data.x_test) for x in spy.eval_inputs), "test data is never augmented"
    again, _ = spy_training(cifar_root, augment=True)
    assert all(torch.equal(a, b) for a, b in zip(spy.train_inputs, again.train_inputs)), "same seed, same batches"


def test_augment_false_feeds_the_stored_images(cifar_root: Path):
    spy, ctx = spy_training(cifar_root, augment=False)
    raw_rows = {tuple(x.flatten().tolist()) for x in ctx.data.x_train}
    assert all(tuple(x.flatten().tolist()) in raw_rows for b in spy.train_inputs for x in b)


def test_mnist_training_data_is_not_augmented(tmp_path: Path):
    from tests.test_data import make_idx_folder

    make_idx_folder(tmp_path / "MNIST" / "raw")
    assert load_data("mnist", tmp_path, size=32).augment == Augment()


def test_random_affine_is_seeded_keeps_black_black_and_is_identity_at_zero_ranges():
    from bench.data.augment import AFFINE

    x = torch.rand(6, 1, 28, 28)
    a = augment_batch(x, AFFINE, step_generator(0, 5))
    assert torch.equal(a, augment_batch(x, AFFINE, step_generator(0, 5)))  # a pure function of (seed, step)
    assert not torch.allclose(a, x, atol=1e-3)
    tiny = Augment(rotate=1e-6)
    assert torch.allclose(augment_batch(x, tiny, step_generator(0, 5)), x, atol=1e-4)
    black = torch.full((2, 1, 28, 28), -0.4242)  # MNIST's normalised black
    moved = augment_batch(black, AFFINE, step_generator(1, 1), torch.tensor([-0.4242]))
    assert torch.allclose(moved, black, atol=1e-5)  # what moves in is black, not zero
