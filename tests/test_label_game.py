"""The adversarial-label family's pieces against hand values and known answers: the
Gumbel sampler and its annealing, Lemma 4.1's optimal discriminator, the
score-function gradient, NaGAN's and KDGAN's update rules, the KD-baseline losses and
KDGAN's training subsets."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.data.base import first_per_class_subset, last_subset
from bench.errors import UserError
from bench.families.label_game import (adversarial_loss, discriminator_loss, discriminator_step,
                                       gradient_variance, gumbel, optimal_discriminator, reward_regression,
                                       sample_labels, sampled_discriminator_loss, temperature)
from bench.losses import distn_mse, hinton_kd, kd_kl, noisy_logits


def test_gumbel_noise_has_the_gumbel_moments():
    torch.manual_seed(0)
    g = gumbel((200_000,), torch.device("cpu"))
    assert g.mean().item() == pytest.approx(0.5772, abs=0.01)  # Euler-Mascheroni constant
    assert g.var().item() == pytest.approx(math.pi ** 2 / 6, abs=0.03)


@pytest.mark.parametrize("concrete", [True, False])
def test_sampled_labels_follow_the_classifier_distribution(concrete):
    """The argmax of a concrete sample is an exact sample of p (Gumbel-Max), at any tau."""
    torch.manual_seed(0)
    p = torch.tensor([[0.6, 0.3, 0.1]])
    labels, log_q = sample_labels(p.log(), 60_000, tau=5.0, concrete=concrete)
    freq = torch.bincount(labels.flatten(), minlength=3).float() / labels.numel()
    assert torch.allclose(freq, p[0], atol=0.01)
    assert log_q.shape == labels.shape


def test_concrete_log_term_is_smooth_at_high_and_sharp_at_low_temperature():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5]])
    _, hot = sample_labels(logits, 2000, tau=100.0, concrete=True)
    _, cold = sample_labels(logits, 2000, tau=0.01, concrete=True)
    assert hot.mean().item() == pytest.approx(math.log(1 / 4), abs=0.05)  # near-uniform sample
    assert cold.mean().item() > -0.05  # a near one-hot sample at its argmax


def test_temperature_decays_exponentially_from_start_to_end():
    taus = [temperature(e, 5, 1.0, 0.1) for e in range(5)]
    assert taus[0] == 1.0 and taus[-1] == pytest.approx(0.1)
    ratios = [b / a for a, b in zip(taus, taus[1:])]
    assert ratios == pytest.approx([0.1 ** 0.25] * 4)


def test_discriminator_reaches_lemma_4_1_optimum():
    """For fixed C and T, D's loss is minimised at p_d = p_u / (p_u + p_alpha) (Lemma 4.1);
    with a one-hot p_u at y the true label's optimum is 1 / (1 + p_alpha(y))."""
    torch.manual_seed(0)
    alpha, y = 0.3, 1
    p_c, p_t = torch.tensor([0.2, 0.5, 0.3]), torch.tensor([0.6, 0.1, 0.3])
    p_alpha = alpha * p_c + (1 - alpha) * p_t
    g = torch.zeros(1, 3, requires_grad=True)
    opt = torch.optim.Adam([g], lr=0.05)
    for _ in range(600):
        negatives = [(torch.multinomial(p_c, 4000, replacement=True).unsqueeze(0), alpha),
                     (torch.multinomial(p_t, 4000, replacement=True).unsqueeze(0), 1 - alpha)]
        loss = discriminator_loss(g, torch.tensor([[y]]), negatives)
        opt.zero_grad()
        loss.backward()
        opt.step()
    expected = optimal_discriminator(torch.tensor(1.0), p_alpha[y])
    assert torch.sigmoid(g[0, y]).item() == pytest.approx(expected.item(), abs=0.02)
    assert torch.sigmoid(g[0, 0]).item() < 0.1  # a label p_u never gives is rejected


def test_score_function_gradient_is_unbiased_without_concrete_samples():
    """E[grad of the surrogate] = grad of E_{y~p}[log(1 - p_d(x, y))], the exact gradient."""
    torch.manual_seed(0)
    logits = torch.tensor([[0.5, -0.2, 1.0, 0.0]], requires_grad=True)
    d_logits = torch.tensor([[2.0, -1.0, 0.5, 0.0]])
    exact, = torch.autograd.grad((F.softmax(logits, 1) * F.logsigmoid(-d_logits)).sum(), logits)
    labels, log_q = sample_labels(logits, 200_000, tau=1.0, concrete=False)
    estimate, = torch.autograd.grad(adversarial_loss(log_q, d_logits, labels), logits)
    assert torch.allclose(estimate, exact, atol=0.01), (estimate, exact)


D_ACCEPTS_2 = torch.tensor([[-3.0, -3.0, 3.0, -3.0]])
"""A fixed discriminator that accepts only label 2."""


def train_against_d(step_loss) -> torch.Tensor:
    """C's logits (one example, 4 labels, from uniform) after 200 Adam steps on
    ``step_loss(logits)`` against D_ACCEPTS_2."""
    torch.manual_seed(0)
    logits = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(200):
        loss = step_loss(logits)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return logits.detach()


def test_nagan_rule_moves_the_classifier_to_labels_the_discriminator_accepts():
    """C descends E[log(1 - p_d)]: against a D that accepts only label 2, p_c(2) -> 1."""
    def policy_gradient(z: torch.Tensor) -> torch.Tensor:
        labels, log_q = sample_labels(z, 25, tau=1.0, concrete=False)
        return adversarial_loss(log_q, D_ACCEPTS_2, labels)

    assert F.softmax(train_against_d(policy_gradient), 1)[0, 2].item() > 0.95


def test_kdgan_classifier_rule_balances_adversarial_and_distillation_terms():
    """With beta large C imitates T's logits; with beta = 0 it goes where D points."""
    from bench.losses import l2_logits

    teacher = torch.tensor([[3.0, 0.0, 0.0]])
    d_logits = torch.tensor([[-3.0, 3.0, -3.0]])
    ends = {}
    for beta in (0.0, 10.0):
        torch.manual_seed(0)
        logits = torch.zeros(1, 3, requires_grad=True)
        opt = torch.optim.Adam([logits], lr=0.05)
        for _ in range(300):
            labels, log_q = sample_labels(logits, 25, tau=1.0, concrete=True)
            loss = 0.5 * adversarial_loss(log_q, d_logits, labels) + beta * l2_logits(logits, teacher)
            opt.zero_grad()
            loss.backward()
            opt.step()
        ends[beta] = F.softmax(logits.detach(), 1)[0]
    assert ends[0.0].argmax() == 1 and ends[10.0].argmax() == 0


def test_distn_loss_matches_a_hand_value():
    z_s, z_t, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[4.0, 1.0]]), torch.tensor([0])
    ce = math.log(1 + math.exp(-1.0))
    mse = ((1 / 3 - 4 / 3) ** 2 + (0 - 1 / 3) ** 2) / 2
    assert distn_mse(z_s, z_t, y, 3.0, 0.7).item() == pytest.approx(0.3 * ce + 0.7 * 9 * mse)
    assert hinton_kd(z_s, z_t, y, 3.0, 0.7).item() == pytest.approx(
        0.3 * ce + 0.7 * kd_kl(z_s, z_t, 3.0).item())


def test_noisy_teacher_keeps_its_mean_and_drops_at_the_rate():
    torch.manual_seed(0)
    z = torch.full((100_000, 1), 2.0)
    noisy = noisy_logits(z, drop=0.1, sigma=0.1)
    assert noisy.mean().item() == pytest.approx(2.0, abs=0.02)
    assert (noisy.abs() < 0.8).float().mean().item() == pytest.approx(0.1, abs=0.01)  # dropped logits
    assert torch.equal(noisy_logits(z, 0.0, 0.0), z)


def test_gradient_variance_is_zero_for_equal_batches_and_hand_value_otherwise():
    w = torch.nn.Linear(1, 1, bias=False)
    w.weight.data.fill_(1.0)
    same = [lambda: w(torch.ones(1, 1)).sum()] * 3
    assert gradient_variance(w, same) == 0.0
    varied = [lambda a=a: w(torch.full((1, 1), a)).sum() for a in (1.0, 2.0, 3.0)]
    assert gradient_variance(w, varied) == pytest.approx(1.0)  # var of (1, 2, 3)


def test_kdgan_training_subsets():
    y = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1, 2])
    assert last_subset(y, 4, seed=3).tolist() == [5, 6, 7, 8]
    assert first_per_class_subset(y, 6, seed=3).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(UserError, match="multiple of the 3 classes"):
        first_per_class_subset(y, 4, seed=0)
    with pytest.raises(UserError, match="larger than the training set"):
        last_subset(y, 10, seed=0)


def test_code_rule_pulls_the_logit_at_a_sampled_label_towards_d_probability():
    """The official code's C update: sigmoid CE between h(x)[y] and sigmoid(g(x)[y])."""
    def regression(z: torch.Tensor) -> torch.Tensor:
        labels = torch.multinomial(F.softmax(z.detach(), 1), 25, replacement=True)
        return reward_regression(z, D_ACCEPTS_2, labels)

    logits = train_against_d(regression)
    assert torch.sigmoid(logits[0]) == pytest.approx(torch.sigmoid(D_ACCEPTS_2[0]), abs=0.05)
    assert F.softmax(logits, 1)[0, 2].item() > 0.9


@pytest.mark.parametrize("smoothed", [False, True])
def test_sampled_discriminator_loss_hand_value_at_zero_logits(smoothed):
    """At g = 0 every sigmoid CE is log 2 whatever its target: weights add up."""
    true = torch.tensor([[1]])
    negatives = [(torch.tensor([[0, 2, 3]]), 0.25), (torch.tensor([[3, 3]]), 0.75)]
    loss = sampled_discriminator_loss(torch.zeros(1, 4), true.expand(-1, 5), negatives, smoothed)
    assert loss.item() == pytest.approx(math.log(2))


def test_sampled_discriminator_loss_hard_targets_hand_value():
    """gan_dis_sample's targets are 1 for the positives and 0 for every sampled label."""
    d_logits = torch.tensor([[2.0, -1.0, 0.0]])
    loss = sampled_discriminator_loss(d_logits, torch.tensor([[0, 0]]), [(torch.tensor([[1, 0]]), 1.0)], False)
    expected = (2 * F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(-1.0)) + F.softplus(torch.tensor(2.0))) / 4
    assert loss.item() == pytest.approx(expected.item())


@pytest.mark.parametrize("scheme, p_true", [("paper", 1.0), ("gan_dis_sample_dev", 0.85), ("gan_dis_sample", 0.2),
                                            ("value_function", 0.5)])
def test_each_discriminator_scheme_reaches_its_own_score_for_a_generator_that_names_the_true_label(scheme, p_true):
    """A generator that puts (nearly) all its mass on the true label: the paper's and NaGAN's
    schemes draw D's negatives among the other labels, so D accepts the true label; the KDGAN
    script's draws them from all of p, so the true label is 5 positives against 20 negatives
    (D's score 5/25); taken literally, one positive against one negative (1/2)."""
    torch.manual_seed(0)
    x, y = torch.ones(16, 1), torch.zeros(16, dtype=torch.long)
    generator = torch.nn.Linear(1, 4, bias=False)
    with torch.no_grad():
        generator.weight.copy_(torch.tensor([[20.0], [0.0], [0.0], [0.0]]))
    d = torch.nn.Linear(1, 4, bias=False)
    torch.nn.init.zeros_(d.weight)
    opt = torch.optim.Adam(d.parameters(), lr=0.05)
    k = 20 if scheme.startswith("gan_dis") else 1
    for _ in range(400):
        discriminator_step(d, opt, x, y, [(generator, 1.0)], k, scheme)
    assert torch.sigmoid(d(x[:1])[0, 0]).item() == pytest.approx(p_true, abs=0.06)
