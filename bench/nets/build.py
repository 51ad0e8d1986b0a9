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
