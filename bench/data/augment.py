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

    def describe(self) -> str:
        parts = ([f"random crop {self.crop} (pad {self.pad})"] if self.crop else []) + (
            ["horizontal flip"] if self.flip else [])
        return " + ".join(parts) or "none"


NONE = Augment()


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one training step: depends only on (seed, step)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 2 + 1)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator,
                  fill: torch.Tensor | None = None) -> torch.Tensor:
    """Augment a normalised batch (N, C, H, W). ``fill`` (C,) is the normalised value of a
    black pixel, used for the padding (zero when None)."""
    if aug.crop is None and not aug.flip:
        return x
    n, c, h, w = x.shape
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
