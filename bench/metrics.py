"""Evaluation metrics shared by the methods.

Classification data is scored by top-1 accuracy; tabular data (GAN-TSC §3) by test AUC
or accuracy, whichever the dataset declares, both always reported, from each row's class
scores, so a scikit-learn forest and a torch net are scored alike: AUC of the class-1
score on binary data, the mean one-vs-rest AUC over the classes with more classes. Tag data (multi-label: each test
image has a set of relevant tags, ``y`` a row of tag weights whose non-zero entries are
the relevant tags) is scored by ranking the tags by the model's logits, as KDGAN §4.2
evaluates tag recommendation: P@k, F@k, MAP and MRR (C:KDGAN metric.py, after the
jingwei toolkit). Segmentation data (a class per pixel, ``IGNORE`` where unlabelled) is
scored by the mean intersection over union over the whole test set (DFAD §4.1.2), from
one confusion matrix accumulated over every test pixel.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

IGNORE = 255
"""The mask value of unlabelled pixels (CamVid's void, NYUv2's 0), left out of loss and mIoU."""
TAG_METRICS = ("p_at_3", "p_at_5", "f_at_3", "f_at_5", "map", "mrr")
"""Columns of KDGAN Table 2, in its order (P@3, P@5, F@3, F@5, MAP, MRR)."""
PRIMARY_TAG_METRIC = "p_at_3"
"""What a tag run selects its best epoch by, and logs as ``acc``: P@3 (C:KDGAN tagrecom
train_kdgan.py tracks prec@cutoff with cutoff 3; Fig. 3b plots P@3)."""


@torch.no_grad()
def eval_logits(net: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """``net``'s logits as an evaluator, or another player of a game, sees them: eval mode
    (no dropout), no gradient, in batches; the net's train/eval mode is restored."""
    was_training = net.training
    net.eval()
    out = torch.cat([net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    net.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on (x, y), in eval mode; the model's mode is restored."""
    return (eval_logits(model, x).argmax(1) == y).sum().item() / len(x)


@torch.no_grad()
def streamed_accuracy(model: nn.Module, batches) -> float:
    """Top-1 accuracy over (x, y) batches (a streamed test set), in eval mode; mode restored."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in batches:
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    model.train(was_training)
    return correct / total


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore: int = IGNORE) -> torch.Tensor:
    """(classes, classes) counts of (true class, predicted class) over the labelled pixels."""
    keep = target != ignore
    codes = target[keep].long() * num_classes + pred[keep].long()
    return torch.bincount(codes, minlength=num_classes ** 2).view(num_classes, num_classes).cpu()


def mean_iou(counts: torch.Tensor) -> float:
    """Mean over classes of TP / (TP + FP + FN); a class absent from both the labels and the
    predictions has no IoU and is left out of the mean (as the DFAD code's nanmean does)."""
    counts = counts.double()
    tp = counts.diag()
    union = counts.sum(0) + counts.sum(1) - tp
    present = union > 0
    return float((tp[present] / union[present]).mean()) if present.any() else float("nan")


@torch.no_grad()
def segmentation_metrics(model: nn.Module, batches, num_classes: int) -> dict[str, float]:
    """``miou`` and ``pixel_acc`` over (x, masks) batches, the model in eval mode (restored)."""
    was_training = model.training
    model.eval()
    counts = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for x, y in batches:
        counts += confusion(model(x).argmax(1), y, num_classes)
    model.train(was_training)
    return {"miou": mean_iou(counts), "pixel_acc": float(counts.diag().sum() / counts.sum().clamp_min(1))}


def is_multilabel(y: torch.Tensor) -> bool:
    """Tag data carries a (N, tags) weight matrix; classification data (N,) class indices."""
    return y.dim() == 2


def tag_metrics(logits: torch.Tensor, relevant: torch.Tensor) -> dict[str, float]:
    """Ranking metrics of tags sorted by decreasing logit, averaged over examples.

    ``relevant`` is a (N, tags) boolean matrix. Per example, with hits@k the relevant
    tags among the top k and R its number of relevant tags: P@k = hits@k / k, R@k =
    hits@k / R, F@k = 2 P@k R@k / (P@k + R@k) (0 when both are 0), AP = the mean over
    the relevant tags of the precision at each one's rank, RR = 1 / the rank of the first
    relevant tag. An example without relevant tags scores 0 on every metric. Ties in the
    logits rank the lower tag index first (a stable sort).

    C:KDGAN metric.py (jingwei) computes its "R@k" as R-precision (hits within the top R,
    ignoring k); F@k here uses the recall at k, the usual definition (P:kdgan gives none).
    """
    order = torch.sort(logits, dim=1, descending=True, stable=True).indices
    hit = relevant.gather(1, order).float()  # (N, tags): 1 where the tag at that rank is relevant
    n_rel = hit.sum(dim=1)
    ranks = torch.arange(1, hit.shape[1] + 1, device=hit.device, dtype=hit.dtype)
    out = {}
    for k in (3, 5):
        hits = hit[:, :k].sum(dim=1)
        p = hits / k
        r = torch.where(n_rel > 0, hits / n_rel.clamp_min(1), torch.zeros_like(hits))
        f = torch.where(p + r > 0, 2 * p * r / (p + r).clamp_min(1e-12), torch.zeros_like(p))
        out[f"p_at_{k}"], out[f"f_at_{k}"] = p, f
    precision_at_rank = hit.cumsum(dim=1) / ranks
    out["map"] = torch.where(n_rel > 0, (precision_at_rank * hit).sum(dim=1) / n_rel.clamp_min(1),
                             torch.zeros_like(n_rel))
    first = torch.where(hit.any(dim=1), 1.0 / (hit.argmax(dim=1) + 1).to(hit.dtype), torch.zeros_like(n_rel))
    out["mrr"] = first
    return {name: float(out[name].mean()) for name in TAG_METRICS}


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive row scores above a
    random negative one, ties counting one half (Mann-Whitney U / (n_pos n_neg), with
    average ranks for tied scores)."""
    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes among the test rows")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends):  # tied scores share their average rank (1-based)
        ranks[order[start:end]] = (start + end + 1) / 2
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def class_score_matrix(model, x: torch.Tensor, num_classes: int) -> np.ndarray:
    """(rows, classes) scores: a torch net's softmax probabilities, an estimator's class
    probabilities or regression outputs (bench.nets.forests.class_scores)."""
    if isinstance(model, nn.Module):
        return torch.softmax(eval_logits(model, x), dim=1).cpu().numpy()
    from bench.nets.forests import class_scores

    return class_scores(model, x.cpu().numpy(), num_classes)


def scored_metrics(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Test accuracy (the top-scoring class; on a tie the lower class, so on binary data class
    1 exactly where its score exceeds the other's) and AUC: of the class-1 score on binary
    data, else the unweighted mean of each test class's one-vs-rest AUC."""
    y = np.asarray(y)
    present = [c for c in range(scores.shape[1]) if (y == c).any()]
    if scores.shape[1] == 2:
        auc = roc_auc(scores[:, 1], y == 1)
    elif len(present) < 2:
        raise ValueError("AUC needs at least two classes among the test rows")
    else:
        auc = float(np.mean([roc_auc(scores[:, c], y == c) for c in present]))
    return {"auc": auc, "accuracy": float((scores.argmax(axis=1) == y).mean())}


def test_metrics(model, x: torch.Tensor, y: torch.Tensor, metric: str = "accuracy",
                 num_classes: int | None = None) -> dict[str, float]:
    """``{"acc": primary}`` for classification data (top-1 accuracy); for tag data
    ``acc`` is P@3 (PRIMARY_TAG_METRIC) and the Table 2 metrics are added; for a dataset
    scored by ``metric="auc"``, or any estimator, ``acc`` is the dataset's metric and both
    ``auc`` and ``accuracy`` are added (``num_classes``: the dataset's, else the test labels'
    largest class + 1)."""
    if metric == "auc" or not isinstance(model, nn.Module):
        y_np = y.cpu().numpy()
        scores = class_score_matrix(model, x, num_classes or int(y_np.max()) + 1)
        metrics = scored_metrics(scores, y_np)
        return {"acc": metrics[metric], **metrics}
    if not is_multilabel(y):
        return {"acc": accuracy(model, x, y)}
    metrics = tag_metrics(eval_logits(model, x), y > 0)
    return {"acc": metrics[PRIMARY_TAG_METRIC], **metrics}

