"""MIMIC (Ba & Caruana 2014) as KDGAN Table 1 runs it: L2 regression of the teacher's
logits, no labels (methods_spec §3; C:KDGAN arxiv gen_model.py ``kd_model=mimic``)."""
from __future__ import annotations

from dataclasses import dataclass

from bench.context import RunContext
from bench.families.label_game import LABEL_GAME_METRICS, LabelGameConfig, distil_pretrained
from bench.losses import l2_logits
from bench.registry import METHODS


@dataclass(frozen=True)
class MimicConfig(LabelGameConfig):
    """KDGAN's KD-baseline recipe (LabelGameConfig: Adam 1e-3, wd 4e-5, 100 passes)."""


@METHODS.register("mimic", config=MimicConfig, family="adversarial_label", paper="kdgan",
                  needs_teacher=True, pretrained=("classifier",), label="MIMIC", metrics=LABEL_GAME_METRICS)
def mimic(ctx: RunContext, cfg: MimicConfig) -> dict[str, float]:
    return distil_pretrained(ctx, cfg, lambda z_c, z_t, y: l2_logits(z_c, z_t))
