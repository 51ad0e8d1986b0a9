"""Build a registered classifier with the student/teacher initial weights fixed by seed."""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from bench.registry import NETS


def init_seed(arch: str, seed: int) -> int:
    """Seed for a net's initial weights: depends only on (arch, seed).

    Every method therefore starts from the same student for a given seed.
    """
    return int(hashlib.sha256(f"{arch}:{seed}".encode()).hexdigest()[:8], 16)


def build_classifier(arch: str, num_classes: int, in_channels: int, seed: int) -> nn.Module:
    entry = NETS.get(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed(arch, seed))
        return entry.obj(num_classes=num_classes, in_channels=in_channels)


class StagedClassifier(nn.Module):
    """A ``features`` Sequential and a ``head``; ``STAGES`` slices of ``features`` whose
    outputs are the stage activations (attention transfer), the rest gives the feature."""

    STAGES: tuple[tuple[int, int], ...] = ()

    def forward(self, x: torch.Tensor, return_features: bool = False, return_activations: bool = False):
        acts = []
        for start, stop in self.STAGES:
            x = self.features[start:stop](x)
            acts.append(x)
        feat = self.features[self.STAGES[-1][1]:](x)
        logits = self.head(feat)
        if return_activations:
            return logits, acts
        return (logits, feat) if return_features else logits
