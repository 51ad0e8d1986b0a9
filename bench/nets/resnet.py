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

from bench.errors import UserError
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


class ResNet8x(nn.Module):
    def __init__(self, blocks: tuple[int, ...], num_classes: int, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU())
        layers, in_planes = [], 64
        for planes, n, stride in zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)):
            stage = []
            for s in [stride] + [1] * (n - 1):
                stage.append(BasicBlock(in_planes, planes, s))
                in_planes = planes
            layers.append(nn.Sequential(*stage))
        self.stages = nn.ModuleList(layers)
        self.fc = nn.Linear(512, num_classes)
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
            lambda num_classes, in_channels, b=_blocks: ResNet8x(b, num_classes, in_channels))


class TorchvisionResNet(nn.Module):
    """torchvision's ImageNet ResNet with features and stage activations exposed."""

    def __init__(self, depth: int, num_classes: int, in_channels: int):
        super().__init__()
        from torchvision.models import resnet as tv_resnet  # here: 2 s of start-up otherwise

        builder = {18: tv_resnet.resnet18, 34: tv_resnet.resnet34}[depth]
        self.weights = {18: tv_resnet.ResNet18_Weights, 34: tv_resnet.ResNet34_Weights}[depth].IMAGENET1K_V1
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

    def load_pretrained(self) -> str:
        """Load torchvision's ImageNet weights from the local torch hub cache (never
        downloaded here); returns the file read. A classifier of another size keeps its own."""
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(self.weights.url).name
        if not path.exists():
            raise UserError(f"pretrained weights not found at {path}; fetch them once where the machine "
                            f"has internet (torchvision.models.{type(self.weights).__name__}.IMAGENET1K_V1"
                            ".get_state_dict()) or copy the file there ($TORCH_HOME moves the cache)")
        state = torch.load(path, map_location="cpu")
        if state["fc.weight"].shape != self.net.fc.weight.shape:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        self.net.load_state_dict(state, strict=False)
        return str(path)


for _depth in (18, 34):
    for _size, _where in ((224, "afd Table 6 (ImageNet)"), (128, "dfad Caltech101"), (64, "mad TinyImageNet")):
        NETS.register(f"resnet{_depth}_in{_size}", kind="classifier", input_size=_size, paper=_where)(
            lambda num_classes, in_channels, d=_depth: TorchvisionResNet(d, num_classes, in_channels))
