"""KDGAN's tag-recommendation nets (P:kdgan App. C, "image tag recommendation").

The input is ``[image | text]`` features (bench/data/tags.py), ``in_channels`` = 2d.

- Classifier h(x, y): MLP on the image features only, d -> 800 -> 800 -> tags.
- Teacher and discriminator s(x, y): MLP on the element-wise product of image and text
  features, d -> 1,200 -> 1,200 -> tags (the discriminator has its own weights).

App. C names the layers and sizes only; ReLU activations and no dropout are our reading
(the official tag code, C:KDGAN tagrecom_cr/gen_model.py, differs from the paper: one
linear layer over 4,096-d VGG features with dropout keep 0.5).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.nets.build import StagedClassifier
from bench.registry import NETS


class ImageHalf(nn.Module):
    """The first half of ``[image | text]``: what the classifier may see at inference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : x.shape[1] // 2]


class ImageTimesText(nn.Module):
    """image ⊙ text: the privileged input of the teacher and the discriminator."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[1] // 2
        return x[:, :d] * x[:, d:]


class TagMLP(StagedClassifier):
    """``pick`` -> hidden -> hidden -> tags, ReLU after each hidden layer."""

    def __init__(self, num_classes: int, in_channels: int, hidden: int, pick: nn.Module):
        super().__init__()
        if in_channels % 2:
            raise ValueError(f"tag nets read [image | text] features: in_channels must be even, got {in_channels}")
        self.features = nn.Sequential(pick, nn.Linear(in_channels // 2, hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    STAGES = ((0, 3),)


NETS.register("kdgan_tag_mlp", kind="classifier", input_size=0, paper="kdgan App. C (h: image features)")(
    lambda num_classes, in_channels: TagMLP(num_classes, in_channels, 800, ImageHalf()))
NETS.register("kdgan_tag_teacher", kind="classifier", input_size=0,
              paper="kdgan App. C (s: image ⊙ text features)")(
    lambda num_classes, in_channels: TagMLP(num_classes, in_channels, 1200, ImageTimesText()))
