"""MUNGE (Bucila, Caruana & Niculescu-Mizil, KDD 2006): synthetic rows by swapping
attribute values between nearest neighbours, the tabular augmentation GAN-TSC compares
against (P:gantsc §3 "GAN-TSC vs. MUNGE", Fig. 1e, App. A.2; methods_spec §12).

``variant`` chooses the algorithm:

- ``bucila`` (default, the 2006 paper): each of k passes copies the training set T'; for
  each example e of T', in order, e' is its nearest neighbour in T' (Euclidean distance
  on attributes scaled to [0, 1] by the training ranges; T' already holds this pass's
  earlier changes); for each attribute, with probability p, e_a <- N(e'_a, sd) and
  e'_a <- N(e_a, sd) with sd = |e_a - e'_a| / s, both drawn around the *old* values.
- ``code`` (C:GAN-TSC generate_fake_tabular.py, its current version): distances on the raw
  attributes, and the neighbour's new value is drawn around e's *already replaced* value
  (the code keeps a view of e's row), so both rows end near e'.
- ``code_2019`` (the same file's first published version, which the paper's numbers likely
  came from): as ``code`` without copying the data, so each pass munges the previous
  pass's result again and the k copies it returns are all the last pass's array.
  (That code also overwrote the caller's training set; here the training rows stay intact.)

All attributes are continuous here (the data sets' features are numeric); the 2006
paper's swap for nominal attributes is not needed. Rows are labelled by the teacher like
any synthetic row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.families.compression import COMPRESSION_METRICS, SyntheticSet, compress
from bench.context import RunContext
from bench.nets.build import init_seed
from bench.registry import METHODS

VARIANTS = ("bucila", "code", "code_2019")


def munge(x: np.ndarray, k: int, p: float, s: float, rng: np.random.Generator,
          variant: str = "bucila") -> np.ndarray:
    """k x n MUNGE rows from the n rows of ``x`` (see the module docstring for ``variant``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    x = np.asarray(x, dtype=np.float64)
    low, span = x.min(axis=0), np.ptp(x, axis=0)
    scale = np.where(span > 0, span, 1.0) if variant == "bucila" else np.ones(x.shape[1])
    passes, t = [], x.copy()
    for _ in range(k):
        if variant != "code_2019":
            t = x.copy()
        u = (t - low) / scale  # the distance space, kept in step with t
        norms = (u ** 2).sum(axis=1)
        for i in range(len(t)):
            d = norms - 2.0 * (u @ u[i])  # squared distance to u[i], less the constant |u_i|^2
            d[i] = np.inf
            j = int(np.argmin(d))
            swap = rng.random(t.shape[1]) < p
            sd = np.abs(t[i] - t[j]) / s
            new_i = rng.normal(t[j], sd)
            around = t[i] if variant == "bucila" else np.where(swap, new_i, t[i])
            new_j = rng.normal(around, sd)
            t[i, swap], t[j, swap] = new_i[swap], new_j[swap]
            u[i], u[j] = (t[i] - low) / scale, (t[j] - low) / scale
            norms[i], norms[j] = u[i] @ u[i], u[j] @ u[j]
        passes.append(t)
    if variant == "code_2019":
        passes = [t] * k
    return np.concatenate(passes)


@dataclass(frozen=True)
class MUNGEConfig(SyntheticSet):
    """MUNGE as GAN-TSC runs it (C:GAN-TSC tabular.py: k = 9, s = 1.5, p = 0.1, MUNGE rows only)."""

    p: float = 0.1
    """Swap probability per attribute; C:GAN-TSC tabular.py: 0.1 (Bucila et al.'s own value
    is unconfirmed, methods_spec §21.9; GAN-TSC tuned p and s on the test set for Fig. 1e)."""
    s: float = 1.5
    """Local-variance divisor, sd = |e_a - e'_a| / s; C:GAN-TSC tabular.py: 1.5."""
    variant: str = "bucila"
    """bucila (the 2006 algorithm) | code | code_2019 (the official code's behaviours)."""

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.p <= 1.0 or self.s <= 0:
            raise ValueError(f"p must be in [0, 1] and s > 0, got p={self.p!r}, s={self.s!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")


@METHODS.register("munge", config={"estimator": MUNGEConfig}, family="synthetic", paper="gan_tsc",
                  needs_teacher=True, label="MUNGE",
                  metrics=COMPRESSION_METRICS)  # rows to swap attributes of: forests only
def munge_tsc(ctx: RunContext, cfg: MUNGEConfig) -> dict[str, float]:
    rng = np.random.default_rng(init_seed("munge", ctx.spec.seed))
    x, y = ctx.data.x_train.cpu().numpy(), ctx.data.y_train.cpu().numpy()

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = n // len(x)
        rows = munge(x, k, cfg.p, cfg.s, rng, cfg.variant).astype(np.float32)
        return torch.from_numpy(rows), torch.from_numpy(np.tile(y, k))

    return compress(ctx, cfg, "teacher", cfg.data, cfg.synthetic_factor, sample)
