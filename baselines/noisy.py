"""NOISY (Sau & Balasubramanian 2016): logit regression on a randomly perturbed teacher,
as KDGAN Table 1 runs it (methods_spec §4; C:KDGAN gen_model.py ``kd_model=noisy``).

The paper's own perturbation (per-sample Gaussian with probability alpha) and its
alpha, sigma are unconfirmed (methods_spec §21.8); KDGAN's code multiplies each logit
by a rescaled dropout mask plus Gaussian noise, which is what this reproduces."""
from __future__ import annotations

from dataclasses import dataclass

from bench.context import RunContext
from bench.families.label_game import LABEL_GAME_METRICS, LabelGameConfig, distil_pretrained
from bench.losses import l2_logits, noisy_logits
from bench.registry import METHODS


@dataclass(frozen=True)
class NoisyConfig(LabelGameConfig):
    """KDGAN's KD-baseline recipe plus the noise of its MNIST scripts."""

    noise_drop: float = 0.1
    """C:KDGAN MNIST scripts: noisy_ratio r = 0.1 (CIFAR 0.01)."""
    noise_sigma: float = 0.1
    """C:KDGAN MNIST scripts: noisy_sigma 0.1 (CIFAR 0.01)."""

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.noise_drop < 1 or self.noise_sigma < 0:
            raise ValueError(f"need 0 <= noise_drop < 1 and noise_sigma >= 0, got "
                             f"{self.noise_drop!r}, {self.noise_sigma!r}")


@METHODS.register("noisy", config=NoisyConfig, family="adversarial_label", paper="kdgan",
                  needs_teacher=True, pretrained=("classifier",), label="NOISY", metrics=LABEL_GAME_METRICS)
def noisy(ctx: RunContext, cfg: NoisyConfig) -> dict[str, float]:
    return distil_pretrained(
        ctx, cfg, lambda z_c, z_t, y: l2_logits(z_c, noisy_logits(z_t, cfg.noise_drop, cfg.noise_sigma)))
