"""Published or user-supplied weights for a registered net, read from disk only.

Two sources: ``torchvision`` (the net's published ImageNet weights in the local torch hub
cache, e.g. the AlexNet whose 56.52% top-1 MAD Table 2 reports as its ImageNet teacher)
or a path to a state dict a user trained elsewhere (MAD's Places365 / Food101 teachers).
Nothing is downloaded: an absent file is a UserError naming where it was looked for.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.errors import UserError
from bench.registry import NETS

TORCHVISION = "torchvision"


def pretrained_file(arch: str) -> Path:
    """Where ``arch``'s published ImageNet weights lie in the local torch hub cache; a
    UserError when the net has none or the file is absent (never downloaded here)."""
    name = NETS.get(arch).meta.get("weights_file")
    if not name:
        with_weights = [e.name for e in NETS.entries() if e.meta.get("weights_file")]
        raise UserError(f"pretrained: {arch!r} has no published ImageNet weights here; nets that have: "
                        f"{', '.join(with_weights)}")
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    if not path.exists():
        raise UserError(f"pretrained weights not found at {path}; fetch them once where the machine has internet "
                        f"(torchvision's IMAGENET1K_V1 weights of {arch.split('_')[0]}) or copy the file there "
                        "($TORCH_HOME moves the cache)")
    return path


def weights_file(source: str, arch: str, where: str) -> Path:
    """The file ``source`` names for ``arch``: ``torchvision`` or a path (``~`` expanded);
    ``where`` (e.g. "teacher run of cifar10") goes into the error when it is absent."""
    if source == TORCHVISION:
        return pretrained_file(arch)
    path = Path(source).expanduser()
    if not path.is_file():
        raise UserError(f"{where}: weights file {path} not found (weights: a path to a state dict saved with "
                        f"torch.save(model.state_dict()), or {TORCHVISION!r} for the net's published weights)")
    return path


def load_state(module: nn.Module, state: dict, head: str, path: Path) -> None:
    """Load ``state`` into a wrapped torchvision ``module``; the classifier ``head`` (a key
    prefix) is skipped when its class count differs, so it keeps its own initial weights.
    Any other missing or unexpected key is a UserError: a file of another net must not
    load silently."""
    weight = f"{head}weight"
    if weight in state and state[weight].shape != module.state_dict()[weight].shape:
        state = {k: v for k, v in state.items() if not k.startswith(head)}
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head)]
    if missing or result.unexpected_keys:
        raise UserError(f"weights {path} do not fit {type(module).__name__}: missing {missing[:3]}, "
                        f"unexpected {result.unexpected_keys[:3]}")


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a state dict into ``model``: nets wrapping a torchvision model translate it
    themselves (``load_pretrained``); any other net must match it key for key."""
    if hasattr(model, "load_pretrained"):
        model.load_pretrained(path)
    else:
        model.load_state_dict(torch.load(path, map_location="cpu"))
