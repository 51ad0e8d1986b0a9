"""Training-time data augmentation on batched tensors, as the official codes train
their teachers and KD-ORI students (torchvision's RandomCrop(size, padding) and
RandomHorizontalFlip, re-done on a batch on the run's device).

A dataset declares its augmentation in the registry (``augment=Augment(...)``); the
shared epoch loop applies it to each training batch, never to test data. The random
draws come from a generator seeded by (run seed, step), so a batch is a pure
function of where the loop is: the same seed gives the same batches, and a resumed
run continues with exactly the batches it would have drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augment:
    """Random crop of ``crop`` pixels after zero-padding ``pad`` on each side (black
    pixels, as torchvision pads before normalising), and a horizontal flip with
    probability 0.5 when ``flip``. ``crop=None``: no crop."""

    crop: int | None = None
    pad: int = 0
    flip: bool = False
    rotate: float = 0.0
    """Random affine (Keras ImageDataGenerator's ranges, KDGAN's MNIST AffineGenerator):
    rotation in degrees, ..."""
    shift: float = 0.0
    """... translation as a fraction of the image size, ..."""
    zoom: float = 0.0
    """... and zoom factor in [1 - zoom, 1 + zoom]; black fills what moves in."""

    def describe(self) -> str:
        parts = ([f"random crop {self.crop} (pad {self.pad})"] if self.crop else []) + (
            ["horizontal flip"] if self.flip else [])
        if self.rotate or self.shift or self.zoom:
            parts.append(f"random affine (rotation {self.rotate:g} deg, shift {self.shift:g}, zoom {self.zoom:g})")
        return " + ".join(parts) or "none"


NONE = Augment()


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one training step: depends only on (seed, step)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 2 + 1)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator,
                  fill: torch.Tensor | None = None) -> torch.Tensor:
    """Augment a normalised batch (N, C, H, W). ``fill`` (C,) is the normalised value of a
    black pixel, used for the padding (zero when None)."""
    if aug.crop is None and not aug.flip and not (aug.rotate or aug.shift or aug.zoom):
        return x
    n, c, h, w = x.shape
    if aug.rotate or aug.shift or aug.zoom:
        x = random_affine(x, aug, generator, fill)
    if aug.crop is not None:
        if aug.crop > h + 2 * aug.pad or aug.crop > w + 2 * aug.pad:
            raise ValueError(f"crop {aug.crop} is larger than the padded image {h + 2 * aug.pad}x{w + 2 * aug.pad}")
        fill_v = (torch.zeros(c, device=x.device) if fill is None else fill.to(x.device)).view(1, c, 1, 1)
        padded = torch.nn.functional.pad(x - fill_v, [aug.pad] * 4) + fill_v
        oy = torch.randint(0, h + 2 * aug.pad - aug.crop + 1, (n,), generator=generator)
        ox = torch.randint(0, w + 2 * aug.pad - aug.crop + 1, (n,), generator=generator)
        span = torch.arange(aug.crop)
        rows = (oy[:, None] + span).to(x.device)
        cols = (ox[:, None] + span).to(x.device)
        b = torch.arange(n, device=x.device)[:, None, None, None]
        ch = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[b, ch, rows[:, None, :, None], cols[:, None, None, :]]
    if aug.flip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def augment_with_masks(x: torch.Tensor, masks: torch.Tensor, aug: Augment, generator: torch.Generator,
                       fill: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop and flip images and their segmentation masks alike (the DFAD code's ExtRandomCrop
    and ExtRandomHorizontalFlip). The mask rides along as one more channel, moved by
    indexing only, so every label stays exact; padding fills it with ``IGNORE`` (255)."""
    if aug.rotate or aug.shift or aug.zoom:
        raise ValueError("segmentation masks allow crop and flip only, not a random affine")
    c = x.shape[1]
    fill = torch.zeros(c) if fill is None else fill.cpu()
    both = augment_batch(torch.cat([x, masks[:, None].to(x.dtype)], 1), aug, generator,
                         torch.cat([fill, torch.tensor([255.0])]))
    return both[:, :c], both[:, c].round().long()


def random_affine(x: torch.Tensor, aug: Augment, generator: torch.Generator,
                  fill: torch.Tensor | None) -> torch.Tensor:
    """Rotate, shift and zoom each image by its own random amounts (bilinear; the area
    that moves in is black, ``fill`` in normalised space)."""
    n, c = x.shape[:2]
    u = lambda: torch.rand(n, generator=generator) * 2 - 1  # noqa: E731  U(-1, 1)
    angle = torch.deg2rad(u() * aug.rotate)
    scale = 1 + u() * aug.zoom
    tx, ty = u() * aug.shift * 2, u() * aug.shift * 2  # grid units span 2 per image side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    fill_v = (torch.zeros(c, device=x.device) if fill is None else fill.to(x.device)).view(1, c, 1, 1)
    return torch.nn.functional.grid_sample(x - fill_v, grid, align_corners=False) + fill_v


AFFINE = Augment(rotate=15.0, shift=0.1, zoom=0.1)
"""C:KDGAN data_utils.AffineGenerator: rotation 15 degrees, shift 0.1, zoom 0.1 (MNIST)."""

AUGMENT_CHOICES = ("none", "flip", "affine", "dataset")


def augmentation(choice: bool | str, declared: Augment) -> Augment:
    """A recipe's augmentation: ``True`` / ``"dataset"`` the dataset's declared one (CIFAR:
    crop 32 pad 4 + flip), ``"flip"`` mirroring only (KDGAN's paper, CIFAR), ``False`` /
    ``"none"`` nothing, ``"affine"`` KDGAN's code's MNIST augmentation (AFFINE)."""
    if choice is True or choice == "dataset":
        return declared
    if choice == "flip":
        return Augment(flip=True)
    if choice == "affine":
        return AFFINE
    if choice is False or choice == "none":
        return NONE
    raise ValueError(f"augment must be one of {', '.join(AUGMENT_CHOICES)}, got {choice!r}")
