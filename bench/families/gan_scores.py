"""Scores of a synthetic data set: the TSC Score (P:gantsc §5) and the Inception Score
(Salimans et al. 2016), which GAN-TSC Table 2 sets side by side.

- TSC Score: a student trained for one epoch to mimic a teacher on the data set D is
  tested on real test data; ``(acc(D) - acc_mode) / (acc(D_real) - acc_mode)`` where
  acc_mode is what always predicting the test set's most common class scores (the paper's
  formula). The released score code computes ``acc(D) / acc_real`` with acc_real a
  constant measured once (C:GAN-TSC-Score: 0.532 for its NIN -> LeNet on CIFAR-10).
- Inception Score: ``exp(E_x KL(p(y | x) || p(y)))`` under an ImageNet Inception-v3, the
  mean and std over ``splits`` equal parts of the images (Salimans et al.'s code: 10).
  The network's weights are read from a local file only (nothing is downloaded); where
  there is none the score is not measured and the report says so.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
"""torchvision's ImageNet Inception-v3 weights, as torch.hub caches them."""
INCEPTION_SIZE = 299
INCEPTION_ENV = "BENCH_INCEPTION_WEIGHTS"


def mode_accuracy(y: torch.Tensor) -> float:
    """Accuracy of always predicting the most common class of ``y``."""
    return torch.bincount(y).max().item() / len(y)


def tsc_score(acc: float, acc_real: float, acc_mode: float) -> float:
    """P:gantsc §5: (acc(D) - acc_mode) / (acc(D_real) - acc_mode); 1 for data as useful as
    the real data, 0 for data that teaches no more than the majority class."""
    if acc_real <= acc_mode:
        raise ValueError(f"the TSC Score needs acc(D_real) = {acc_real:.4f} above the majority-class "
                         f"accuracy {acc_mode:.4f}: the student trained on real data learned nothing")
    return (acc - acc_mode) / (acc_real - acc_mode)


def tsc_score_code(acc: float, acc_real: float) -> float:
    """C:GAN-TSC-Score: acc(D) / acc_real, acc_real a constant (no majority-class correction)."""
    return acc / acc_real


def inception_score(probs: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` parts of exp(mean_x KL(p(y | x) || p(y))), p(y) the part's
    marginal: 1 for identical predictions, the number of classes for confident, evenly
    spread ones."""
    if len(probs) < splits:
        raise ValueError(f"the Inception Score needs at least {splits} images (one per split), got {len(probs)}")
    scores = []
    for part in torch.tensor_split(probs.double(), splits):
        marginal = part.mean(dim=0, keepdim=True)
        kl = (part * (torch.log(part.clamp_min(1e-12)) - torch.log(marginal.clamp_min(1e-12)))).sum(dim=1)
        scores.append(kl.mean().exp())
    scores = torch.stack(scores)
    return scores.mean().item(), scores.std(unbiased=False).item()


def inception_weights(configured: str = "") -> Path:
    """Where the Inception-v3 weights are looked for: ``configured``, else $BENCH_INCEPTION_WEIGHTS,
    else torch.hub's cache (``<hub dir>/checkpoints/inception_v3_google-0cc3c7bd.pth``)."""
    if configured or os.environ.get(INCEPTION_ENV):
        return Path(configured or os.environ[INCEPTION_ENV]).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


@torch.no_grad()
def inception_probabilities(images: torch.Tensor, weights: Path, batch_size: int = 100) -> torch.Tensor:
    """ImageNet class probabilities of ``images`` (N, C, H, W) in [0, 1] (grey images repeat
    to three channels), resized to 299 x 299 as the network was trained."""
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].float()
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        out.append(torch.softmax(net(x * 2 - 1), dim=1))  # the Google weights read [-1, 1] inputs
    return torch.cat(out)
