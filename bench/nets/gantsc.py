"""GAN-TSC's CIFAR-10 nets (P:gantsc §4, Table 1; methods_spec §§1.5-1.6).

- ``nin``: the Network-in-Network teacher of pair 1 (C:GAN-TSC functions/cifar10/net.py, loaded
  there from a Caffe export): conv5x5 -> 1x1 -> 1x1 -> maxpool 3/2 -> dropout -> conv5x5 ->
  1x1 -> 1x1 -> avgpool 3/2 -> dropout -> conv3x3 -> 1x1 -> FC -> FC(10), ReLU after every
  conv and the first FC, TF 'SAME' padding. The widths come from the weight file and are
  unconfirmed (methods_spec §21.2): the standard NIN's 192-160-96 / 192-192-192 / 192, the
  last 1x1 with 10 channels as in the standard NIN, then FC 640 -> 256 -> classes (harness).
- ``gantsc_lenet``: the LeNet student of pair 1 as the code builds it: conv5x5 64 (valid) ->
  maxpool 2/2 -> conv5x5 128 (valid) -> maxpool 2/2 -> FC 1024 ReLU -> FC, **no nonlinearity
  after the convolutions** (the code's quirk, kept to reproduce its 66.2 % student-only
  accuracy); Xavier weights, biases N(0, 0.5^2). ``gantsc_lenet_relu`` adds the ReLUs.
- ``cnn5``: the "5-layer CNN with 3 convolution layers" of pair 2, as in the distillation code
  the paper takes its settings from (Li 2018): three conv3x3 (32, 64, 128) + BN + ReLU + maxpool
  2, FC 2048 -> 128 + BN + ReLU + dropout 0.5, FC -> classes.
Pair 2's teacher and pair 3's student are the CIFAR ResNet-18 (``resnet18_8x``), pair 3's
teacher ``wrn28_10`` (bench/nets/wrn.py).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.registry import NETS


class NIN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 192, 5, padding=2), relu(), nn.Conv2d(192, 160, 1), relu(),
            nn.Conv2d(160, 96, 1), relu(), nn.MaxPool2d(3, 2, padding=1), nn.Dropout(0.5),
            nn.Conv2d(96, 192, 5, padding=2), relu(), nn.Conv2d(192, 192, 1), relu(),
            nn.Conv2d(192, 192, 1), relu(), nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), nn.Dropout(0.5),
            nn.Conv2d(192, 192, 3, padding=1), relu(), nn.Conv2d(192, 10, 1), relu(), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(10 * 8 * 8, 256), relu(), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class GANTSCLeNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, conv_relu: bool):
        super().__init__()
        act = nn.ReLU if conv_relu else nn.Identity
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 5), act(), nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, 5), act(), nn.MaxPool2d(2, 2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(128 * 5 * 5, 1024), nn.ReLU(), nn.Linear(1024, num_classes))
        for m in self.modules():  # C:GAN-TSC net.py: Xavier weights, biases N(0, 0.5^2)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class CNN5(nn.Module):
    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        layers, c = [], in_channels
        for width in (32, 64, 128):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            c = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(128 * 4 * 4, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@NETS.register("nin", kind="classifier", input_size=32, paper="gan_tsc Table 1 pair 1 (teacher)")
def nin(num_classes: int, in_channels: int) -> nn.Module:
    return NIN(num_classes, in_channels)


@NETS.register("gantsc_lenet", kind="classifier", input_size=32, paper="gan_tsc Table 1 pair 1 (student, code)")
def gantsc_lenet(num_classes: int, in_channels: int) -> nn.Module:
    return GANTSCLeNet(num_classes, in_channels, conv_relu=False)


@NETS.register("gantsc_lenet_relu", kind="classifier", input_size=32, paper="gan_tsc (LeNet with conv ReLUs)")
def gantsc_lenet_relu(num_classes: int, in_channels: int) -> nn.Module:
    return GANTSCLeNet(num_classes, in_channels, conv_relu=True)


@NETS.register("cnn5", kind="classifier", input_size=32, paper="gan_tsc Table 1 pair 2 (student)")
def cnn5(num_classes: int, in_channels: int) -> nn.Module:
    return CNN5(num_classes, in_channels)
