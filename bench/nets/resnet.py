"""ResNets for the data-free papers.

- ResNet-18/34-"8x" for CIFAR (DFAD Table 6, DAFL, CMI/MAD; methods_spec §1.2): 3x3
  stem of 64 channels, no max-pool, four BasicBlock stages 64/128/256/512 with strides
  1/2/2/2, global average pool, FC; Kaiming-normal (fan_out) init. Total stride 8.
- The same CIFAR-style nets at 64x64 for TinyImageNet (``resnet*_tiny``), as CMI and MAD
  run it (3x3 stem, no max-pool; global pooling over the 8x8 final map).
- ImageNet-style ResNet-18/34 (torchvision layout) for Caltech101 (128x128, DFAD), and at
  64x64 for users who want the 7x7-stem variant, with ``return_features`` and stage
  activations added.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.nets.weights import load_state
from bench.registry import NETS


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class BasicResNet(nn.Module):
    """A 3x3-stem ResNet of BasicBlocks: stage k has ``blocks[k]`` blocks of ``widths[k]``
    channels, the first with ``strides[k]``; global average pool, FC; Kaiming-normal
    (fan_out) init. The "8x" nets (64/128/256/512, strides 1/2/2/2) and He et al.'s CIFAR
    ResNets (16/32/64, strides 1/2/2; bench/nets/resnet_cifar.py) are both this net."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], strides: tuple[int, ...],
                 num_classes: int, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, in_planes = [], widths[0]
        for planes, n, stride in zip(widths, blocks, strides):
            stage = []
            for s in [stride] + [1] * (n - 1):
                stage.append(BasicBlock(in_planes, planes, s))
                in_planes = planes
            layers.append(nn.Sequential(*stage))
        self.stages = nn.ModuleList(layers)
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x, return_features: bool = False, return_activations: bool = False):
        h = self.stem(x)
        acts = []
        for stage in self.stages:
            h = stage(h)
            acts.append(h)
        feat = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        logits = self.fc(feat)
        if return_activations:
            return logits, acts
        return (logits, feat) if return_features else logits


CIFAR_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
for _depth, _blocks in CIFAR_BLOCKS.items():
    for _suffix, _size, _where in (("8x", 32, "dfad Table 6"), ("tiny", 64, "mad/cmi TinyImageNet (3x3 stem)")):
        NETS.register(f"resnet{_depth}_{_suffix}", kind="classifier", input_size=_size, paper=_where)(
            lambda num_classes, in_channels, b=_blocks: BasicResNet((64, 128, 256, 512), b, (1, 2, 2, 2),
                                                                    num_classes, in_channels))


class TorchvisionResNet(nn.Module):
    """torchvision's ImageNet ResNet with features and stage activations exposed."""

    def __init__(self, depth: int, num_classes: int, in_channels: int):
        super().__init__()
        from torchvision.models import resnet as tv_resnet  # here: 2 s of start-up otherwise

        builder = {18: tv_resnet.resnet18, 34: tv_resnet.resnet34}[depth]
        self.net = builder(weights=None, num_classes=num_classes)
        if in_channels != 3:
            self.net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)

    def forward(self, x, return_features: bool = False, return_activations: bool = False):
        n = self.net
        h = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        acts = []
        for stage in (n.layer1, n.layer2, n.layer3, n.layer4):
            h = stage(h)
            acts.append(h)
        feat = torch.flatten(n.avgpool(h), 1)
        logits = n.fc(feat)
        if return_activations:
            return logits, acts
        return (logits, feat) if return_features else logits

    def load_pretrained(self, path: Path) -> None:
        """Load torchvision's ImageNet weights from ``path`` (see ``pretrained_file``); a
        classifier of another size keeps its own."""
        state = torch.load(path, map_location="cpu")
        state = {k.removeprefix("net."): v for k, v in state.items()}  # this wrapper's own model.pt too
        load_state(self.net, state, "fc.", path)


TORCHVISION_WEIGHTS = {18: "resnet18-f37072fd.pth", 34: "resnet34-b627a593.pth"}
"""torchvision's IMAGENET1K_V1 files (the basenames of their download URLs)."""


for _depth in (18, 34):
    for _size, _where in ((224, "afd Table 6 (ImageNet)"), (128, "dfad Caltech101"), (64, "mad TinyImageNet")):
        NETS.register(f"resnet{_depth}_in{_size}", kind="classifier", input_size=_size, paper=_where,
                      weights_file=TORCHVISION_WEIGHTS[_depth])(
            lambda num_classes, in_channels, d=_depth: TorchvisionResNet(d, num_classes, in_channels))
