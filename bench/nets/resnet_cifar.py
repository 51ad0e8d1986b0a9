"""CIFAR ResNet-d of He et al. (2016) (methods_spec §1.3), as AFD, DML and ONE train them.

A 3x3 stem of 16 channels, three stages of n = (d - 2) / 6 BasicBlocks with widths
16/32/64 and strides 1/2/2, global average pool, FC: ResNet-20/32/56/110 (n = 3/5/9/18),
and ResNet-8 (n = 1) at full and half width (8/16/32) for CPU profiles. Shortcuts are 1x1-conv projections where the
shape changes (option B, as ONE's code; which one AFD used is unconfirmed). ONE's code
switches to Bottleneck blocks from depth 44 on; these nets keep BasicBlocks at every depth
(methods_spec §1.3), a departure the ONE rows inherit.

``trunk_and_branch`` splits a net for ONE (methods_spec §7): the shared part (stem and the
first two stages) and the branch (last stage, pool, FC). The last stage's output is the
"feature map of the last convolution layer" AFD distils (``return_activations``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.nets.resnet import BasicResNet
from bench.registry import NETS


class CifarResNet(BasicResNet):
    """ResNet-d for 32x32 inputs: three stages of (d - 2) / 6 BasicBlocks, widths w/2w/4w."""

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, width: int = 16):
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        super().__init__((width, 2 * width, 4 * width), (n, n, n), (1, 2, 2), num_classes, in_channels)

    def trunk_and_branch(self) -> tuple[nn.Module, nn.Module]:
        """(stem + stages 1-2, last stage + pool + FC) for ONE's shared trunk and branches."""
        return nn.Sequential(self.stem, *self.stages[:-1]), Branch(self.stages[-1], self.fc)


class Branch(nn.Module):
    """A net's last stage and classifier; returns (logits, the stage's feature map)."""

    def __init__(self, stage: nn.Module, fc: nn.Module, pre_pool: nn.Module | None = None):
        super().__init__()
        self.stage, self.fc = stage, fc
        self.pre_pool = pre_pool or nn.Identity()

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.stage(h)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.pre_pool(fmap), 1), 1)), fmap


for _depth in (8, 20, 32, 56, 110):
    NETS.register(f"resnet{_depth}", kind="classifier", input_size=32,
                  paper="afd Tables 1-5 (He et al. CIFAR ResNet)" if _depth > 8 else "(harness; CPU profiles)")(
        lambda num_classes, in_channels, d=_depth: CifarResNet(d, num_classes, in_channels))
NETS.register("resnet8_half", kind="classifier", input_size=32, paper="(harness; CPU profiles: widths 8/16/32)")(
    lambda num_classes, in_channels: CifarResNet(8, num_classes, in_channels, width=8))
