"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis; methods_spec §1.4), as in ZSKT and CMI.

Pre-activation blocks (BN-ReLU-conv3x3-BN-ReLU-conv3x3), three groups of (d-4)/6 blocks
with widths 16k/32k/64k and strides 1/2/2, a 1x1 shortcut where the shape changes,
final BN-ReLU, global average pool, FC. The three group outputs are the activations
used by attention transfer (ZSKT).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.nets.resnet_cifar import Branch
from bench.registry import NETS


class PreActBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(in_planes, planes, 1, stride, bias=False)
                         if in_planes != planes or stride != 1 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    def __init__(self, depth: int, width: int, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = (16, 16 * width, 32 * width, 64 * width)
        self.conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        groups, in_planes = [], widths[0]
        for planes, stride in zip(widths[1:], (1, 2, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(PreActBlock(in_planes, planes, s))
                in_planes = planes
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.ModuleList(groups)
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / k))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, x, return_features: bool = False, return_activations: bool = False):
        h = self.conv(x)
        acts = []
        for group in self.groups:
            h = group(h)
            acts.append(h)
        feat = torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn(h)), 1), 1)
        logits = self.fc(feat)
        if return_activations:
            return logits, acts
        return (logits, feat) if return_features else logits

    def trunk_and_branch(self) -> tuple[nn.Module, nn.Module]:
        """(stem + groups 1-2, group 3 + BN-ReLU + pool + FC) for ONE's trunk and branches."""
        return nn.Sequential(self.conv, *self.groups[:-1]), Branch(self.groups[-1], self.fc,
                                                                   nn.Sequential(self.bn, nn.ReLU()))


for _d, _k in ((10, 1), (10, 2), (16, 1), (16, 2), (16, 4), (28, 2), (28, 4), (28, 10), (40, 1), (40, 2)):
    NETS.register(f"wrn{_d}_{_k}", kind="classifier", input_size=32, paper="zskt / mad / afd / gan_tsc")(
        lambda num_classes, in_channels, d=_d, k=_k: WideResNet(d, k, num_classes, in_channels))
