"""GAN-TSC §5's scores of a data set: the TSC Score (paper and code formulas) and the
Inception Score, on cases with known answers; where the Inception-v3 weights are looked for."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bench.families.gan_scores import (INCEPTION_ENV, INCEPTION_FILE, inception_probabilities, inception_score,
                              inception_weights, mode_accuracy, tsc_score, tsc_score_code)


def test_tsc_score_paper_formula_known_values():
    assert tsc_score(0.8, 0.8, 0.1) == 1.0  # as useful as the real data
    assert tsc_score(0.1, 0.8, 0.1) == 0.0  # no better than the majority class
    assert math.isclose(tsc_score(0.6, 0.8, 0.1), 0.5 / 0.7)
    assert tsc_score(0.05, 0.8, 0.1) < 0  # worse than the majority class
    with pytest.raises(ValueError, match="above the majority-class accuracy"):
        tsc_score(0.5, 0.1, 0.1)


def test_tsc_score_code_formula_divides_by_its_constant():
    """C:GAN-TSC-Score: acc / acc_real, no majority-class correction: the two formulas rank
    data sets alike but differ in value (the paper's AC-GAN 0.778 is the code's, not the paper's)."""
    assert math.isclose(tsc_score_code(0.414, 0.532), 0.414 / 0.532)
    assert tsc_score_code(0.1, 0.5) == 0.2 and tsc_score(0.1, 0.5, 0.1) == 0.0


def test_mode_accuracy_is_the_majority_class_share():
    assert mode_accuracy(torch.tensor([0, 0, 1, 2])) == 0.5
    assert mode_accuracy(torch.arange(10)) == 0.1


def test_inception_score_known_cases():
    uniform = torch.full((100, 10), 0.1)
    assert inception_score(uniform) == pytest.approx((1.0, 0.0))  # no confidence: 1
    confident_even = torch.eye(10)[torch.arange(100) % 10]  # every split holds each class once
    assert inception_score(confident_even) == pytest.approx((10.0, 0.0))  # the number of classes
    one_class = torch.eye(10)[torch.zeros(100, dtype=torch.long)]
    assert inception_score(one_class)[0] == pytest.approx(1.0)  # confident but not diverse
    two_even = torch.eye(10)[torch.arange(100) % 2]
    assert inception_score(two_even, splits=5) == pytest.approx((2.0, 0.0))
    with pytest.raises(ValueError, match="at least 10 images"):
        inception_score(uniform[:5])


def test_inception_weights_are_looked_for_where_said(monkeypatch, tmp_path):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    assert inception_weights() == Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "env.pth"))
    assert inception_weights() == tmp_path / "env.pth"
    assert inception_weights(str(tmp_path / "given.pth")) == tmp_path / "given.pth"  # the config wins


@pytest.mark.slow
def test_inception_probabilities_read_a_local_state_dict(tmp_path):
    """torchvision's architecture with weights from a file (random here: the real file is
    not downloaded): ImageNet's 1,000 class probabilities per image, grey images accepted."""
    from torchvision.models import inception_v3

    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    probs = inception_probabilities(torch.rand(3, 1, 32, 32), path)
    assert probs.shape == (3, 1000)
    assert torch.allclose(probs.sum(dim=1), torch.ones(3), atol=1e-5)
