"""The adversarial-label family's shared game (KDGAN, NaGAN and their KD baselines).

Players are classifiers over labels: the classifier C (the student), the teacher T and
the discriminator D, whose C logits score (image, label) pairs, ``p_d(x, y) =
sigmoid(g(x)[y])`` (C:KDGAN dis_model.py, methods_spec §1.7). All start from
pretrained checkpoints (KDGAN Algorithm 1 line 1) and are trained in *passes* over the
labelled set: an outer epoch runs each player's passes in turn (KDGAN's code: D 20, T
10, C 10), and C is evaluated on the test set after each of its passes; the curve's
``epoch`` counts C passes, the x-axis of KDGAN Fig. 3a.

What is here: the concrete (Gumbel-softmax) sampler and its temperature schedule
(P:kdgan Eq. 9, §4), the discriminator's loss (App. B), the score-function gradient with
the control variate (App. B), and the resumable loop over passes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bench.context import RunContext
from bench.data.augment import NONE, augment_batch, augmentation, step_generator
from bench.data.base import DataChoice
from bench.metrics import TAG_METRICS, eval_logits
from bench.train import adam, epoch_order, optimise, sgd

LABEL_GAME_METRICS = ("acc_best", "acc_last", "epoch_converged", *TAG_METRICS)
"""What every method of this family reports (``metrics=``): accuracy (P@3 on tag data), the epoch
it converged at (Fig. 3) and, on tag data, Table 2's metrics at the best epoch."""


@dataclass(frozen=True)
class LabelGameConfig(DataChoice):
    """What every method of the family shares: KDGAN's MNIST data handling and Adam
    recipe (C:KDGAN mdlcompr/flags.py and scripts; methods_spec §§1.7, 8, 9)."""

    train_subset: str = "last"
    """C:KDGAN data_utils: the last n images of the MNIST training file."""
    normalise: str = "none"
    """P:kdgan §4.1: MNIST is not preprocessed (pixels in [0, 1])."""
    batch_size: int = 10
    """C:KDGAN scripts: 10 (n = 100), 50 (n = 1k / 5k), 100 (n = 10k); set per n by the suite."""
    optimizer: str = "adam"
    """adam (C:KDGAN, every MNIST script) | sgd (plain gradient descent: NaGAN's CIFAR code)."""
    lr: float = 1e-3
    """C:KDGAN flags: Adam 1e-3 (the KDGAN script sets 5e-4, see KDGANConfig; NaGAN CIFAR: SGD 0.05)."""
    weight_decay: float = 4e-5
    """C:KDGAN mdlcompr/flags.py: L2 weight decay 4e-5 (on T and D; on C unless
    ``classifier_weight_decay`` says otherwise)."""
    classifier_weight_decay: float | None = None
    """C's own L2 (None: ``weight_decay``). The Table 1 scripts' classifier has none: every
    loss of C:KDGAN mdlcompr_xw/gen_model.py leaves its regularisation losses out."""
    epochs: int = 100
    """Outer epochs (C:KDGAN scripts: 100 for the KD baselines and KDGAN)."""
    augment: str = "none"
    """none | flip | affine | dataset: P:kdgan §4.1: MNIST is used as is; CIFAR-10 adds
    mirrored images (``flip``). The code augments MNIST with random affine transforms in
    every phase (``affine``) and CIFAR-10 with pad-4 crop + flip (``dataset``)."""
    adversarial: str = "policy_gradient"
    """How C (and T) learn from D (ADVERSARIAL_RULES): the paper's score-function gradient
    with the control variate (App. B), or the code's ``reward_regression``."""
    discriminator: str = "paper"
    """D's samples and targets (DISCRIMINATOR_SCHEMES): ``paper`` (App. B), ``value_function``,
    or the official scripts' ``gan_dis_sample`` (KDGAN) and ``gan_dis_sample_dev`` (NaGAN)."""

    def __post_init__(self):
        super().__post_init__()
        augmentation(self.augment, NONE)  # raises on an unknown choice
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.adversarial not in ADVERSARIAL_RULES:
            raise ValueError(f"adversarial must be one of {', '.join(ADVERSARIAL_RULES)}, got {self.adversarial!r}")
        if self.discriminator not in DISCRIMINATOR_SCHEMES:
            raise ValueError(f"discriminator must be one of {', '.join(DISCRIMINATOR_SCHEMES)}, "
                             f"got {self.discriminator!r}")

    def make_optimizer(self, net: nn.Module, classifier: bool = False) -> torch.optim.Optimizer:
        """Adam or plain SGD for one player (``classifier``: C) with the L2 penalty as a
        gradient term, as TF adds ``wd * l2_loss`` to the loss."""
        wd = self.weight_decay
        if classifier and self.classifier_weight_decay is not None:
            wd = self.classifier_weight_decay
        if self.optimizer == "sgd":
            return sgd(net.parameters(), self.lr, 0.0, wd)
        return adam(net.parameters(), self.lr, weight_decay=wd)


# ---------------------------------------------------------------------------- sampling
def gumbel(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """g ~ Gumbel(0, 1) as -log(-log(u)), u ~ U(0, 1) (P:kdgan footnote 2; the 1e-20
    guards of C:KDGAN mdlcompr/gumbel_softmax.py keep it finite)."""
    u = torch.rand(shape, device=device)
    return -torch.log(-torch.log(u + 1e-20) + 1e-20)


def temperature(epoch: int, epochs: int, start: float, end: float) -> float:
    """tau of outer epoch ``epoch`` (0-based): exponential decay from ``start`` to ``end``
    over the run (P:kdgan §4: from 1.0 to 0.1)."""
    if epochs <= 1:
        return start
    return start * (end / start) ** (epoch / (epochs - 1))


def sample_labels(logits: torch.Tensor, k: int, tau: float, concrete: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """k pseudo labels per example from p = softmax(logits), and the differentiable
    log-probability each one's score-function gradient uses.

    With ``concrete`` (the Gumbel-Max trick, P:kdgan Eq. 9 / App. B): y_i =
    softmax((log p + g_i) / tau), z_i = argmax y_i (an exact sample of p) and the log term
    is log y_i[z_i], smooth at high tau. Without it (NaGAN, KDGAN-WO-GM): z_i ~ p and
    log p(z_i). Returns (labels (B, k), log terms (B, k)).
    """
    log_p = F.log_softmax(logits, dim=1)
    if not concrete:
        labels = torch.multinomial(log_p.detach().exp(), k, replacement=True)
        return labels, log_p.gather(1, labels)
    g = gumbel((logits.shape[0], k, logits.shape[1]), logits.device)
    log_y = F.log_softmax((log_p.unsqueeze(1) + g) / tau, dim=2)  # (B, k, C)
    labels = log_y.detach().argmax(dim=2)
    return labels, log_y.gather(2, labels.unsqueeze(2)).squeeze(2)


def score(d_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """D's logit for each (x, label) pair: g(x)[y], shape of ``labels``."""
    return d_logits.gather(1, labels)


def discriminator_loss(d_logits: torch.Tensor, true: torch.Tensor,
                       negatives: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """-(1/k) sum_i [log p_d(x, y_i) + sum_j w_j log(1 - p_d(x, z_i^j))] (P:kdgan App. B):
    true labels are positives, each generator's pseudo labels negatives with weight w_j
    (KDGAN: alpha for C, 1 - alpha for T; NaGAN: 1 for C). Averaged over the batch."""
    pos = F.binary_cross_entropy_with_logits(score(d_logits, true), torch.ones_like(true, dtype=d_logits.dtype))
    neg = sum(w * F.binary_cross_entropy_with_logits(score(d_logits, z), torch.zeros_like(z, dtype=d_logits.dtype))
              for z, w in negatives)
    return pos + neg


def adversarial_loss(log_q: torch.Tensor, d_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Surrogate whose gradient is (1/k) sum_i grad log q(z_i|x) (log(1 - p_d(x, z_i)) - b),
    b = the mean reward over the k samples (P:kdgan App. B's control variate; the paper
    prints the sum, whose 1/k we read as lost). D is fixed here (its logits detached)."""
    reward = F.logsigmoid(-score(d_logits.detach(), labels))  # log(1 - sigmoid(s))
    advantage = reward - reward.mean(dim=1, keepdim=True)
    return (log_q * advantage).mean()


def reward_regression(logits: torch.Tensor, d_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The official code's adversarial loss (C:KDGAN gen_model.get_gan_losses): a sigmoid
    cross-entropy pulling the generator's logit at each sampled label towards D's
    probability of that (x, label), r = sigmoid(g(x)[y]); not a policy gradient."""
    reward = torch.sigmoid(score(d_logits.detach(), labels))
    return F.binary_cross_entropy_with_logits(logits.gather(1, labels), reward)


def sampled_discriminator_loss(d_logits: torch.Tensor, positives: torch.Tensor,
                               negatives: list[tuple[torch.Tensor, float]], smoothed: bool) -> torch.Tensor:
    """The official code's D loss (C:KDGAN dis_model.get_gan_losses): per generator, the
    ``positives`` (B, P) true labels and its sampled negatives in one sigmoid cross-entropy,
    weighted per generator. Targets 1 and 0 (utils.gan_dis_sample), or, ``smoothed``,
    U(0.7, 1) and U(0, 0.3) (utils.gan_dis_sample_dev)."""
    total = 0.0
    for labels, weight in negatives:
        both = torch.cat([positives, labels], dim=1)
        pos, neg = torch.ones(positives.shape, device=labels.device), torch.zeros(labels.shape, device=labels.device)
        if smoothed:
            pos, neg = 0.7 + 0.3 * torch.rand(pos.shape, device=labels.device), 0.3 * torch.rand(neg.shape,
                                                                                               device=labels.device)
        total = total + weight * F.binary_cross_entropy_with_logits(score(d_logits, both), torch.cat([pos, neg], dim=1))
    return total


def optimal_discriminator(p_true: torch.Tensor, p_fake: torch.Tensor) -> torch.Tensor:
    """Lemma 4.1: p_d*(x, y) = p_u(y|x) / (p_u(y|x) + p_alpha(y|x))."""
    return p_true / (p_true + p_fake)


# ---------------------------------------------------------------------------- the loop
Phase = tuple[str, int, Callable[[torch.Tensor, torch.Tensor, int], dict[str, torch.Tensor]]]
"""(player name, passes per outer epoch, step(x, y, outer_epoch) -> losses to log)."""


def run_passes(ctx: RunContext, classifier: nn.Module, cfg: LabelGameConfig, phases: list[Phase],
               players: dict[str, nn.Module], evaluate_every_pass: str | None = None,
               on_outer_end: Callable[[int], dict[str, float]] | None = None) -> dict[str, float]:
    """Run ``cfg.epochs`` outer epochs of ``phases`` over the labelled set, resumably.

    Every step is one mini-batch of one pass; a pass visits the set in the order of
    (seed, pass index). After each pass of the player named ``evaluate_every_pass``
    (default: the last phase), C is evaluated and a curve row is logged (``epoch`` =
    C passes so far); ``on_outer_end(outer_epoch)`` adds columns to the last row of each
    outer epoch (gradient variances). ``players`` are switched
    to train mode for their own phase and to eval mode otherwise (dropout off when a
    player only scores or teaches, as KDGAN's eval graphs do).
    """
    data = ctx.data
    aug = augmentation(cfg.augment, data.augment)
    n = len(data.y_train)
    per_pass = math.ceil(n / cfg.batch_size)
    schedule = [(name, step) for name, passes, step in phases for _ in range(passes)]
    eval_name = evaluate_every_pass or phases[-1][0]
    per_outer = len(schedule) * per_pass
    c_passes = sum(passes for name, passes, _ in phases if name == eval_name)
    losses: dict[str, torch.Tensor] = {}
    for step in ctx.steps(cfg.epochs * per_outer):
        outer, rest = divmod(step, per_outer)
        k, i = divmod(rest, per_pass)
        name, update = schedule[k]
        if i == 0:
            for player, net in players.items():
                net.train(player == name)
        idx = epoch_order(n, ctx.spec.seed, outer * len(schedule) + k)
        idx = idx[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(ctx.device)
        x = augment_batch(data.x_train[idx], aug, step_generator(ctx.spec.seed, step), data.black)
        losses.update(update(x, data.y_train[idx], outer))
        if i == per_pass - 1 and name == eval_name:
            done = sum(1 for nm, _ in schedule[:k + 1] if nm == eval_name)
            row = {key: float(v.detach()) if torch.is_tensor(v) else float(v) for key, v in losses.items()}
            if k == max(j for j, (nm, _) in enumerate(schedule) if nm == eval_name) and on_outer_end:
                row.update(on_outer_end(outer))
            ctx.log(step + 1, epoch=outer * c_passes + done, outer_epoch=outer + 1, **row,
                    **ctx.test_metrics(classifier))
    return {**ctx.accuracy_summary(), "epoch_converged": converged_epoch(ctx.curve), **at_best(ctx.curve)}


def at_best(curve: list[dict]) -> dict[str, float]:
    """On tag data, Table 2's metrics of the evaluation with the best ``acc`` (P@3): the
    code keeps the classifier of its best P@3 (C:KDGAN tagrecom train_kdgan.py)."""
    best = max(curve, key=lambda row: row["acc"])
    return {name: best[name] for name in TAG_METRICS if name in best}


CONVERGED_WITHIN = 0.01
"""A run has converged at the first epoch its accuracy is within this of its best."""


def converged_epoch(curve: list[dict]) -> float:
    """The first C pass whose accuracy is within CONVERGED_WITHIN of the run's best: the
    "epochs to converge" KDGAN §4.1 reads off Fig. 3a (KDGAN ~25, NaGAN ~135)."""
    best = max(row["acc"] for row in curve)
    return next(row["epoch"] for row in curve if row["acc"] >= best - CONVERGED_WITHIN)


def distil_pretrained(ctx: RunContext, cfg: LabelGameConfig,
                      loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, float]:
    """KDGAN's offline KD baselines (MIMIC, DISTN, NOISY): C starts from its pretrained
    checkpoint and minimises ``loss(z_c, z_t, y)`` against the frozen teacher's eval-mode
    logits, one pass per outer epoch (C:KDGAN mdlcompr_xw/train_kd.py)."""
    teacher = ctx.teacher()
    classifier = ctx.pretrained("classifier")
    opt = cfg.make_optimizer(classifier, classifier=True)
    ctx.track(classifier=classifier, opt=opt)

    def step(x: torch.Tensor, y: torch.Tensor, outer: int) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            t_logits = teacher(x)
        loss_c = loss(classifier(x), t_logits, y)
        optimise(opt, loss_c)
        return {"loss_c": loss_c}

    return run_passes(ctx, classifier, cfg, [("classifier", 1, step)], {"classifier": classifier})


CODE_POSITIVES = 5
"""C:KDGAN flags num_positive: 5 copies of the true label per image in D's code losses."""


def true_labels(y: torch.Tensor, k: int) -> torch.Tensor:
    """(B, k) true labels per example: the class, repeated; on tag data, k tags drawn from
    the example's normalised tag vector (each of its relevant tags equally likely)."""
    if y.dim() == 1:
        return y.unsqueeze(1).expand(-1, k)
    return torch.multinomial(y, k, replacement=True)


def relevant(y: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(B, labels) boolean: the true class, or every relevant tag of tag data."""
    if y.dim() == 1:
        return F.one_hot(y, num_labels).bool()
    return y > 0


def discriminator_step(d: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                       generators: list[tuple[nn.Module, float]], k: int, scheme: str) -> torch.Tensor:
    """One D update against k labels sampled from each generator's p (C, and T in KDGAN),
    weighted per generator (P:kdgan Alg. 1 lines 3-6), DISCRIMINATOR_SCHEMES:

    - ``paper``: "correctly identifying the true labels as positive and the pseudo labels
      as negative" (App. B): a true label positive (on tag data, one of the relevant tags),
      the pseudo labels, drawn among the labels that are not true, negative, hard targets;
    - ``value_function``: the value function's expectation taken literally: a sampled label
      that is true is a negative too (its optimum is Lemma 4.1's; D then learns nothing
      about labels C and T never sample, which C and T exploit);
    - ``gan_dis_sample``: the official KDGAN script's (C:KDGAN utils.gan_dis_sample, called by
      mdlcompr_xw/train_kdgan.py): 5 positives per image with target 1 and the k pseudo labels
      drawn from the whole of p, the true label included, with target 0, in one cross-entropy;
    - ``gan_dis_sample_dev``: NaGAN's script's (utils.gan_dis_sample_dev, called by
      mdlcompr_xw/train_gan.py): 5 positives, pseudo labels among the other labels, smoothed
      targets U(0.7, 1) and U(0, 0.3).

    The argmax of a concrete sample is an exact sample of p, so D's negatives are drawn
    from p whatever the temperature."""
    official = scheme in ("gan_dis_sample", "gan_dis_sample_dev")
    positives = true_labels(y, CODE_POSITIVES if official else 1)
    negatives = []
    for g, weight in generators:
        logits = eval_logits(g, x)
        if scheme in ("paper", "gan_dis_sample_dev"):  # pseudo labels are drawn among the other labels
            logits = logits.masked_fill(relevant(y, logits.shape[1]), float("-inf"))
        negatives.append((sample_labels(logits, k, 1.0, concrete=False)[0], weight))
    if official:
        loss = sampled_discriminator_loss(d(x), positives, negatives, smoothed=scheme == "gan_dis_sample_dev")
    else:
        loss = discriminator_loss(d(x), positives, negatives)
    optimise(opt, loss)
    return loss


DISCRIMINATOR_SCHEMES = ("paper", "value_function", "gan_dis_sample", "gan_dis_sample_dev")


def adversarial_term(logits: torch.Tensor, d: nn.Module, x: torch.Tensor, k: int, tau: float,
                     concrete: bool, rule: str) -> torch.Tensor:
    """A generator's (C's or T's) adversarial loss against the fixed D (Alg. 1 lines 9, 12):
    ``policy_gradient`` (the paper) or ``reward_regression`` (the code, which samples its
    labels from the concrete probabilities, not their argmax)."""
    if rule == "reward_regression":
        probs = F.softmax(logits.detach(), dim=1)
        if concrete:
            probs = F.softmax((F.log_softmax(logits.detach(), dim=1) + gumbel(probs.shape, probs.device)) / tau, 1)
        labels = torch.multinomial(probs, k, replacement=True)
        return reward_regression(logits, eval_logits(d, x), labels)
    labels, log_q = sample_labels(logits, k, tau, concrete)
    return adversarial_loss(log_q, eval_logits(d, x), labels)


ADVERSARIAL_RULES = ("policy_gradient", "reward_regression")


def gradient_variance(net: nn.Module, losses: list[Callable[[], torch.Tensor]]) -> float:
    """Variance of the gradient of ``net``'s parameters across the given mini-batch losses:
    the per-coordinate unbiased variance over the losses, averaged over coordinates
    (KDGAN Fig. 7 plots it for the adversarial and the distillation term)."""
    grads = []
    params = [p for p in net.parameters() if p.requires_grad]
    for loss in losses:
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss(), params)]))
    stacked = torch.stack(grads)  # (losses, coordinates); torch's var(dim=0) is ten times slower here
    return float(((stacked - stacked.mean(dim=0)) ** 2).sum(dim=0).div(len(grads) - 1).mean())
