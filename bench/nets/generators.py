"""Generators of the data-free methods.

Generator-A (DFAD Table 4; methods_spec §1.8): Linear(nz -> 2ngf*(S/4)^2), reshape,
BN(2ngf); upsample x2 (nearest); conv3x3 2ngf->2ngf, BN, LeakyReLU(0.2); upsample x2;
conv3x3 2ngf->ngf, BN, LeakyReLU(0.2); conv3x3 ngf->nc; Tanh; BN(nc, affine=False).
The last, non-affine BN standardises the images, so generators are always sampled
in train mode (batch statistics).
"""
from __future__ import annotations

import torch
from torch import nn

from bench.registry import NETS


class GeneratorA(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, img_size: int = 32, nc: int = 1):
        super().__init__()
        if img_size % 4:
            raise ValueError(f"Generator-A needs an image size divisible by 4, got {img_size}")
        self.nz = nz
        self.init_size = img_size // 4
        self.project = nn.Linear(nz, 2 * ngf * self.init_size ** 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * ngf),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * ngf, 2 * ngf, 3, padding=1), nn.BatchNorm2d(2 * ngf), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * ngf, ngf, 3, padding=1), nn.BatchNorm2d(ngf), nn.LeakyReLU(0.2),
            nn.Conv2d(ngf, nc, 3, padding=1), nn.Tanh(),
            nn.BatchNorm2d(nc, affine=False),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], -1, self.init_size, self.init_size)
        return self.body(h)


@NETS.register("generator_a", kind="generator", paper="dfad Table 4")
def generator_a(nz: int, ngf: int, img_size: int, nc: int) -> nn.Module:
    return GeneratorA(nz=nz, ngf=ngf, img_size=img_size, nc=nc)
