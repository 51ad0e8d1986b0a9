"""GAN-TSC: teacher-student compression with AC-GAN data (Liu et al.; P:gantsc §§2-3;
methods_spec §11).

The compression set is augmented (``data: mixture``) or replaced (``data: synthetic``) by
rows an AC-GAN trained on the teacher's training data generates, labelled with the
teacher's P(y = 1 | x). The AC-GAN is this run's ``sampler`` dependency (methods/acgan.py),
trained once per (dataset, n, seed). ``gan_supervised`` is App. A.1's control: the same
GAN rows fitted to the classes the AC-GAN was asked for, without a teacher.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.compression import SyntheticSet, compress
from bench.context import RunContext
from bench.registry import METHODS

CLASS_PRIORS = ("data", "balanced")


@dataclass(frozen=True)
class GANTSCConfig(SyntheticSet):
    """GAN-TSC on tabular data (P:gantsc §3)."""

    class_prior: str = "data"
    """Classes the AC-GAN is asked for: ``data``, drawn from the real class distribution
    (P:gantsc §2: "C drawn from the real data class distribution"), or ``balanced``, n/2 per
    class (C:GAN-TSC generate_fake_tabular.py)."""
    noise_std: float = 0.5
    """C:GAN-TSC generate_fake_tabular.py: w ~ N(0, 0.5^2)."""

    def __post_init__(self):
        super().__post_init__()
        if self.class_prior not in CLASS_PRIORS:
            raise ValueError(f"class_prior must be one of {', '.join(CLASS_PRIORS)}, got {self.class_prior!r}")
        if self.noise_std <= 0:
            raise ValueError("noise_std must be > 0")


def acgan_sampler(ctx: RunContext, cfg: GANTSCConfig):
    """``sample(n)`` from this run's trained AC-GAN: classes per ``class_prior``, noise N(0, noise_std^2)."""
    gan = ctx.pretrained("sampler").eval()
    y = ctx.data.y_train
    prior = (torch.bincount(y, minlength=ctx.data.num_classes).float() if cfg.class_prior == "data"
             else torch.ones(ctx.data.num_classes))

    @torch.no_grad()
    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        if cfg.class_prior == "balanced":  # the code: n / C rows of each class, in class order
            classes = torch.arange(ctx.data.num_classes).repeat_interleave(n // ctx.data.num_classes)
        else:
            classes = torch.multinomial(prior / prior.sum(), n, replacement=True, generator=ctx.generator)
        noise = torch.randn(len(classes), gan.latent, generator=ctx.generator) * cfg.noise_std
        return gan.generate(noise, classes).numpy(), classes.numpy()

    return sample


@METHODS.register("gan_tsc", config=GANTSCConfig, family="synthetic", paper="gan_tsc", label="GAN-TSC",
                  needs_teacher=True, pretrained=("sampler",))
def gan_tsc(ctx: RunContext, cfg: GANTSCConfig) -> dict[str, float]:
    return compress(ctx, cfg, "teacher", cfg.data, cfg.synthetic_factor, acgan_sampler(ctx, cfg))


@METHODS.register("gan_supervised", config=GANTSCConfig, family="synthetic", paper="gan_tsc",
                  label="GAN-supervised", needs_teacher=False, pretrained=("sampler",))
def gan_supervised(ctx: RunContext, cfg: GANTSCConfig) -> dict[str, float]:
    """P:gantsc App. A.1 (Fig. 4): the student fitted to the GAN rows' requested classes, no teacher."""
    return compress(ctx, cfg, "labels", cfg.data, cfg.synthetic_factor, acgan_sampler(ctx, cfg))
