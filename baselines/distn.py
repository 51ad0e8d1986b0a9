"""DISTN: Hinton et al.'s distillation as KDGAN Table 1 runs it (methods_spec §2).

KDGAN's code regresses temperature-scaled logits with an MSE (``soft_loss: mse``, the
default, to reproduce Table 1); ``soft_loss: kl`` is Hinton's KL, the ``kd`` method's loss.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.context import RunContext
from bench.families.label_game import LABEL_GAME_METRICS, LabelGameConfig, distil_pretrained
from bench.losses import distn_mse, hinton_kd
from bench.registry import METHODS

SOFT_LOSSES = {"mse": distn_mse, "kl": hinton_kd}


@dataclass(frozen=True)
class DistnConfig(LabelGameConfig):
    """KDGAN's KD-baseline recipe plus DISTN's temperature and soft weight."""

    temperature: float = 3.0
    """C:KDGAN run_*.sh: temperature 3."""
    soft_weight: float = 0.7
    """C:KDGAN run_mnist10k.sh: kd_soft_pct 0.7 (CIFAR scripts 0.1, flag default 0.3)."""
    soft_loss: str = "mse"
    """mse: KDGAN's code (MSE on z/T, divided by B); kl: Hinton's T^2 * KL (as ``kd``)."""

    def __post_init__(self):
        super().__post_init__()
        if self.soft_loss not in SOFT_LOSSES:
            raise ValueError(f"soft_loss must be one of {', '.join(SOFT_LOSSES)}, got {self.soft_loss!r}")
        if not 0 <= self.soft_weight <= 1:
            raise ValueError(f"soft_weight must be in [0, 1], got {self.soft_weight!r}")


@METHODS.register("distn", config=DistnConfig, family="adversarial_label", paper="kdgan",
                  needs_teacher=True, pretrained=("classifier",), label="DISTN", metrics=LABEL_GAME_METRICS)
def distn(ctx: RunContext, cfg: DistnConfig) -> dict[str, float]:
    soft = SOFT_LOSSES[cfg.soft_loss]
    return distil_pretrained(ctx, cfg, lambda z_c, z_t, y: soft(z_c, z_t, y, cfg.temperature, cfg.soft_weight))
