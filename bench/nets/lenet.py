"""LeNet-5 and LeNet-5-half for 32x32 MNIST (DFAD Table 5; methods_spec §1.1).

conv5x5 -> ReLU -> maxpool, conv5x5 -> ReLU -> maxpool, conv5x5 (-> 1x1) -> ReLU (the
"feature"), FC -> ReLU, FC. No BN, no dropout. LeNet-5: 6/16/120/84 (61,706 params);
LeNet-5-half: 3/8/60/42 (15,738 params).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.nets.build import StagedClassifier
from bench.registry import NETS


class LeNet5(StagedClassifier):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        c1, c2, c3, f = (int(round(c * width)) for c in (6, 16, 120, 84))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 5), nn.ReLU(), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(c3, f), nn.ReLU(), nn.Linear(f, num_classes))

    STAGES = ((0, 3), (3, 6), (6, 8))
    """Slices of ``features`` whose outputs are the conv-stage activations (for AT)."""


@NETS.register("lenet5", kind="classifier", input_size=32, paper="dfad Table 5")
def lenet5(num_classes: int, in_channels: int) -> nn.Module:
    return LeNet5(num_classes, in_channels, width=1.0)


@NETS.register("lenet5_half", kind="classifier", input_size=32, paper="dfad Table 5")
def lenet5_half(num_classes: int, in_channels: int) -> nn.Module:
    return LeNet5(num_classes, in_channels, width=0.5)
