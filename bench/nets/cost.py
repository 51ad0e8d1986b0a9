"""Parameters and FLOPs of a registered classifier, measured with torch's FLOP counter.

The papers print "FLOPs" that are multiply-accumulates of the convolutions and linear
layers (DFAD Table 2: ResNet-34-8x 1.16G, ResNet-18-8x 557M); torch's counter counts
a multiply-add as 2, so ``macs`` is its total / 2. One image, eval mode, at the net's input
size, or at the ``cost_input_size`` its paper counted at (DFAD Table 3's DeepLabV3s: 256x256,
where ours give 40.9G / 5.21G against the printed 41.0G / 5.54G).
"""
from __future__ import annotations

import functools

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.nets.build import build_classifier
from bench.registry import NETS


@functools.lru_cache(maxsize=64)
def net_cost(arch: str, num_classes: int, in_channels: int) -> tuple[int, int]:
    """(parameters, multiply-accumulates per image) of ``arch`` at its input size."""
    meta = NETS.get(arch).meta
    size = int(meta.get("cost_input_size") or meta["input_size"])  # segmentation: what the paper counted at
    model = build_classifier(arch, num_classes, in_channels, 0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, in_channels, size, size))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def si(value: float) -> str:
    """433000 -> '433K', 1.16e9 -> '1.16G' (the papers' style, three significant digits)."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"
