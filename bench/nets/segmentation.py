"""DFAD's segmentation nets (P:dfad §4.3, App. A; C:DFAD network/segmentation/):
DeepLabV3 with a dilated ResNet-50 (teacher) or MobileNetV2 (student) backbone.

Both backbones have output stride 8: ResNet-50 with its last two stages dilated
(torchvision's ``replace_stride_with_dilation=[False, True, True]``), MobileNetV2 as the
DFAD code builds it (inverted residuals up to its 320-channel stage, no final 1x1 conv,
strides past 8 turned into dilations, ReLU6, Kaiming-normal convs). The head is
DeepLabV3's: ASPP (a 1x1 branch, three 3x3 branches dilated 12, 24 and 32 as in the DFAD
code (torchvision uses 36), image pooling; projection with dropout 0.5), 3x3 conv, BN,
ReLU, 1x1 conv to the classes; the logits are upsampled bilinearly to the input size.
``forward(x, return_features=True)`` also returns the backbone's feature map (DAFL's
activation term). The teacher's backbone may start from torchvision's ImageNet ResNet-50
(``load_pretrained``; DFAD: "the backbone of teacher models are pretrained on ImageNet").

Departure: the DFAD code pads each inverted residual's input before its expanding 1x1
conv (``fixed_padding``), so its depthwise conv sees BN(0)-valued borders; here the
depthwise conv pads with zeros (the standard MobileNetV2).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.nets.weights import load_state
from bench.registry import NETS

ASPP_RATES = (12, 24, 32)
"""C:DFAD network/segmentation/_deeplab.py DeepLabHead."""
MOBILENET_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                    (6, 320, 1, 1))
"""(expansion t, channels c, blocks n, stride s) of MobileNetV2 (Sandler et al.; C:DFAD mobilenet.py)."""


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dilation: int, expand: int):
        super().__init__()
        hidden = round(cin * expand)
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, padding=dilation, dilation=dilation, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Trunk(nn.Module):
    """MobileNetV2's features with output stride 8 (320 channels out)."""

    out_channels = 320

    def __init__(self, in_channels: int = 3, output_stride: int = 8):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False),
                                                 nn.BatchNorm2d(32), nn.ReLU6(inplace=True))]
        cin, stride_so_far, rate = 32, 2, 1
        for t, c, n, s in MOBILENET_STAGES:
            if stride_so_far == output_stride:  # past the output stride: dilate instead of striding
                stride, dilation, rate = 1, rate, rate * s
            else:
                stride, dilation, stride_so_far = s, 1, stride_so_far * s
            for i in range(n):
                layers.append(InvertedResidual(cin, c, stride if i == 0 else 1, dilation, t))
                cin = c
        self.features = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class ResNet50Trunk(nn.Module):
    """torchvision's ResNet-50 up to its last stage, stages 3-4 dilated (output stride 8)."""

    out_channels = 2048

    def __init__(self, in_channels: int = 3):
        super().__init__()
        from torchvision.models import resnet50  # here: torchvision's models are slow to import

        self.net = resnet50(weights=None, replace_stride_with_dilation=[False, True, True])
        self.net.fc = nn.Identity()
        if in_channels != 3:
            self.net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))


class DeepLabV3(nn.Module):
    """A trunk, DeepLabV3's head (see the module docstring), logits at the input size."""

    def __init__(self, trunk: nn.Module, num_classes: int, dropout: float = 0.5):
        super().__init__()
        from torchvision.models.segmentation.deeplabv3 import ASPP

        self.backbone = trunk
        self.head = nn.Sequential(ASPP(trunk.out_channels, list(ASPP_RATES)),
                                  nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
                                  nn.Conv2d(256, num_classes, 1))
        for m in self.head.modules():
            if isinstance(m, nn.Dropout):
                m.p = dropout

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feat = self.backbone(x)
        logits = F.interpolate(self.head(feat), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return (logits, feat) if return_features else logits

    def load_pretrained(self, path: Path) -> None:
        """torchvision's ImageNet ResNet-50 into the backbone (its classifier dropped), or a
        whole DeepLabV3 of this kind (a user's teacher) when the file holds one."""
        state = torch.load(path, map_location="cpu")
        if any(k.startswith("backbone.") for k in state):
            self.load_state_dict(state)
            return
        load_state(self.backbone.net, {k: v for k, v in state.items() if not k.startswith("fc.")}, "fc.", path)


NETS.register("deeplabv3_resnet50", kind="classifier", input_size=128, cost_input_size=256, task="segmentation",
              paper="dfad Table 3 (teacher)", weights_file="resnet50-0676ba61.pth")(
    lambda num_classes, in_channels: DeepLabV3(ResNet50Trunk(in_channels), num_classes))
NETS.register("deeplabv3_mobilenetv2", kind="classifier", input_size=128, cost_input_size=256, task="segmentation",
              paper="dfad Table 3 (student)")(
    lambda num_classes, in_channels: DeepLabV3(MobileNetV2Trunk(in_channels), num_classes))
