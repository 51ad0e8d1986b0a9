"""GAN-TSC: teacher-student compression with AC-GAN data (Liu et al.; P:gantsc §§2-4;
methods_spec §11).

The compression set is augmented or replaced by inputs an AC-GAN trained on the teacher's
training data generates, labelled by the teacher: for a forest student (§3) 9 n rows, GAN
rows only (``data: synthetic``) or pooled with the training rows (``mixture``), fitted to
the teacher's P(y = 1 | x); for a network student (§4) GAN batches drawn on the fly with
probability ``p_fake``, matched to the teacher's logits. The AC-GAN is this run's ``sampler``
dependency (methods/acgan.py), trained once per (dataset, n, seed). ``gan_supervised`` is
App. A.1's control: the same GAN data fitted to the classes the AC-GAN was asked for,
without a teacher.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.families.compression import (COMPRESSION_METRICS, GANSampling, SyntheticBatches, SyntheticSet, acgan_sampler,
                                        train_student)
from bench.context import RunContext
from bench.registry import METHODS


@dataclass(frozen=True)
class GANTSCConfig(SyntheticSet, GANSampling):
    """GAN-TSC compressing into a forest (P:gantsc §3)."""

    def __post_init__(self):
        SyntheticSet.__post_init__(self)
        GANSampling.__post_init__(self)


@dataclass(frozen=True)
class GANTSCNetConfig(SyntheticBatches, GANSampling):
    """GAN-TSC compressing into a network (P:gantsc §4)."""

    def __post_init__(self):
        SyntheticBatches.__post_init__(self)
        GANSampling.__post_init__(self)


CONFIGS = {"estimator": GANTSCConfig, "classifier": GANTSCNetConfig}


@METHODS.register("gan_tsc", config=CONFIGS, family="synthetic", paper="gan_tsc", label="GAN-TSC",
                  needs_teacher=True, pretrained=("sampler",), metrics=COMPRESSION_METRICS)
def gan_tsc(ctx: RunContext, cfg) -> dict[str, float]:
    return train_student(ctx, cfg, "teacher", acgan_sampler(ctx, cfg))


@METHODS.register("gan_supervised", config=CONFIGS, family="synthetic", paper="gan_tsc",
                  label="GAN-supervised", needs_teacher=False, pretrained=("sampler",),
                  metrics=COMPRESSION_METRICS)
def gan_supervised(ctx: RunContext, cfg) -> dict[str, float]:
    """P:gantsc App. A.1 (Fig. 4): the student fitted to the GAN data's requested classes, no teacher."""
    return train_student(ctx, cfg, "labels", acgan_sampler(ctx, cfg))
