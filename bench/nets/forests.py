"""scikit-learn forests as registered nets: GAN-TSC's teacher and students (P:gantsc §3).

An entry with ``kind="estimator"`` is built as ``obj(random_state=..., **kwargs)`` and
trained with ``fit``; the run context saves it with pickle and scores it through
:func:`class_scores`, so a method handles a forest exactly where it would handle a
torch net (``ctx.net``, ``ctx.save_model``, ``ctx.pretrained``, ``ctx.evaluate``).
"""
from __future__ import annotations

import numpy as np

from bench.registry import NETS

TEACHER_TREES = 500
"""P:gantsc §3: "the teacher is a random forest classifier with 500 trees"."""


@NETS.register("random_forest", kind="estimator", input_size=None, paper="gan_tsc §3 (teacher)")
def random_forest(random_state: int, n_estimators: int = TEACHER_TREES):
    """P:gantsc §3: scikit-learn's RandomForestClassifier, defaults but the tree count."""
    from sklearn.ensemble import RandomForestClassifier  # scikit-learn loads only when a forest is built

    return RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)


@NETS.register("regression_forest", kind="estimator", input_size=None, paper="gan_tsc §3 (student)")
def regression_forest(random_state: int, n_estimators: int = 1):
    """P:gantsc §3: "the student is a regression random forest with one to 20 trees"
    (scikit-learn defaults), fitted to a real-valued target: the teacher's P(y = 1 | x) on
    binary data, its class probabilities, one output per class, with more classes."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=n_estimators, random_state=random_state)


def regression_targets(scores: np.ndarray) -> np.ndarray:
    """What a student forest regresses from (rows, classes) scores: class 1's column on binary
    data (P:gantsc §3 fits P(y = 1 | x); two columns would split the same up to float ties),
    every column with more classes (beyond the paper)."""
    return scores[:, 1] if scores.shape[1] == 2 else scores


def is_estimator(arch: str) -> bool:
    return NETS.get(arch).meta.get("kind") == "estimator"


def build_estimator(arch: str, seed: int, **kwargs):
    """A fresh estimator whose randomness depends only on (arch, seed), as a torch net's
    initial weights do (bench.nets.build.init_seed)."""
    from bench.nets.build import init_seed

    return NETS.get(arch).obj(random_state=init_seed(arch, seed) % 2**31, **kwargs)


def class_scores(model, x: np.ndarray, num_classes: int) -> np.ndarray:
    """(rows, num_classes) class scores: a classifier's probabilities (a class absent from
    its training rows scores 0), a regressor's prediction (a student fitted to
    ``regression_targets``: on binary data its one output is class 1's score)."""
    if hasattr(model, "predict_proba"):
        scores = np.zeros((len(x), num_classes))
        scores[:, model.classes_.astype(int)] = model.predict_proba(x)
        return scores
    scores = model.predict(x)
    if scores.ndim == 1 and num_classes == 2:
        scores = np.stack([1.0 - scores, scores], axis=1)
    if scores.ndim != 2 or scores.shape[1] != num_classes:
        raise ValueError(f"a regression student must predict {num_classes} class scores per row, got shape "
                         f"{scores.shape}")
    return scores
