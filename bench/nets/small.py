"""Small CNNs for 8x8 inputs (scikit-learn digits), used by the CPU quick profiles.

Not from a paper: a LeNet-like pair (teacher ``cnn8``, student ``cnn8_half`` with half
the channels, ~4x fewer parameters, as LeNet-5 -> LeNet-5-half) that trains in seconds.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.nets.build import StagedClassifier
from bench.registry import NETS


class CNN8(StagedClassifier):
    """conv3x3 -> ReLU -> pool -> conv3x3 -> ReLU -> pool -> FC -> ReLU (feature) -> FC."""

    def __init__(self, num_classes: int, in_channels: int, widths: tuple[int, int, int]):
        super().__init__()
        c1, c2, f = widths
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * 4, f), nn.ReLU(),
        )
        self.head = nn.Linear(f, num_classes)

    STAGES = ((0, 3), (3, 6))
    """Slices of ``features`` whose outputs are the conv-stage activations (for AT)."""


@NETS.register("cnn8", kind="classifier", input_size=8, paper="(harness; digits quick profile)")
def cnn8(num_classes: int, in_channels: int) -> nn.Module:
    return CNN8(num_classes, in_channels, (32, 64, 128))


@NETS.register("cnn8_half", kind="classifier", input_size=8, paper="(harness; digits quick profile)")
def cnn8_half(num_classes: int, in_channels: int) -> nn.Module:
    return CNN8(num_classes, in_channels, (16, 32, 64))
