"""torchvision's AlexNet: MAD's teacher and student on ImageNet, Places365 and Food101.

P:mad §5.1 uses "the AlexNet architecture for both the teacher and student for fast
training"; its ImageNet teacher's 56.52% top-1 (MAD Table 2) is torchvision's published
AlexNet (IMAGENET1K_V1: 56.522%), loadable with ``weights: torchvision`` from the local
hub cache. AlexNet has no BatchNorm, so MAD drops the BN moment-matching term (lambda5 = 0).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.nets.weights import load_state
from bench.registry import NETS

ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"
"""torchvision's IMAGENET1K_V1 file (the basename of its download URL)."""


class AlexNet(nn.Module):
    """torchvision's AlexNet (``net``) with its 4096-d penultimate feature exposed."""

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        from torchvision.models import alexnet  # here: torchvision's models are slow to import

        self.net = alexnet(weights=None, num_classes=num_classes)
        if in_channels != 3:
            self.net.features[0] = nn.Conv2d(in_channels, 64, 11, 4, 2)

    def forward(self, x, return_features: bool = False):
        n = self.net
        h = torch.flatten(n.avgpool(n.features(x)), 1)
        feat = n.classifier[:-1](h)  # dropout, fc, relu, dropout, fc, relu
        logits = n.classifier[-1](feat)
        return (logits, feat) if return_features else logits

    def load_pretrained(self, path: Path) -> None:
        """torchvision's (or a user's) AlexNet state dict; a head of another class count
        keeps its own initial weights (ImageNet weights as a start for another dataset)."""
        state = torch.load(path, map_location="cpu")
        state = {k.removeprefix("net."): v for k, v in state.items()}  # this wrapper's own model.pt too
        load_state(self.net, state, "classifier.6.", path)


NETS.register("alexnet", kind="classifier", input_size=224, paper="mad Table 2 (large datasets)",
              weights_file=ALEXNET_WEIGHTS)(lambda num_classes, in_channels: AlexNet(num_classes, in_channels))
