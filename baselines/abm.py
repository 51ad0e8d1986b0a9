"""ABM / ZSKT: Zero-shot KD via adversarial belief matching (Micaelli & Storkey 2019;
methods_spec §15). The game itself lives in bench/belief_matching.py (shared with
DFKD-Mem); this file holds ZSKT's defaults. MAD's "ABM" baseline is the same game in
MAD's settings without AT (set those in the suite: see dfkd_small's MAD experiments).
ZSKT reports the final accuracy (``acc_last``); both are logged."""
from __future__ import annotations

from dataclasses import dataclass

from bench.belief_matching import BeliefMatchingConfig, belief_matching
from bench.context import RunContext
from bench.registry import METHODS


@dataclass(frozen=True)
class ABMConfig(BeliefMatchingConfig):
    """ZSKT's CIFAR-10 defaults, as declared (with sources) in BeliefMatchingConfig."""


@METHODS.register("abm", config=ABMConfig, family="data_free", paper="zskt (baseline in mad)",
                  needs_teacher=True, label="ABM")
def abm(ctx: RunContext, cfg: ABMConfig) -> dict[str, float]:
    return belief_matching(ctx, cfg)
