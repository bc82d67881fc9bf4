"""The exact expected reward J and dJ/db: golden values, quadrature, finite differences, optimum.

Golden numbers from ../shared/reference/example.md (weight 20, threshold 0.5, rewards +1 / -1).
"""

from __future__ import annotations

import pytest
import torch

import pg
from pg import exact

GOLDEN = [  # bias, J, dJ/db
    (0.0, 0.069306, -4.999092e-02),
    (-1.122459, 0.140395, -7.541656e-02),
    (-5.0, 0.499328, -9.799218e-02),
    (-10.0, 0.861380, 0.0),
    (-12.0, 0.774649, 7.612649e-02),
]


class SameLogits(pg.HungerPolicy):
    """Identical maths to HungerPolicy, but a subclass that overrides logits: J by quadrature."""

    def logits(self, obs):
        return self.weight * obs[:, 0] + self.bias


@pytest.mark.parametrize("bias, reward, slope", GOLDEN)
def test_the_closed_form_gives_the_golden_expected_reward_and_derivative(bias, reward, slope):
    env = pg.HungerBandit()
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    assert env.expected_reward(policy).item() == pytest.approx(reward, abs=5e-7)
    assert env.expected_reward_grad_bias(policy).item() == pytest.approx(slope, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("bias, reward, slope", GOLDEN)
def test_quadrature_and_its_autograd_derivative_agree_with_the_closed_form(bias, reward, slope):
    env = pg.HungerBandit()
    policy = SameLogits(bias=bias, dtype=torch.float64)
    assert env.expected_reward(policy).item() == pytest.approx(reward, abs=5e-7)
    assert env.expected_reward_grad_bias(policy).item() == pytest.approx(slope, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("bias", [0.0, -3.0, -7.5, -10.0, -14.0])
def test_the_closed_form_derivative_matches_central_differences_of_j(bias, stochastic):
    env = pg.HungerBandit(stochastic_portions=stochastic)
    h = 1e-5
    up, down = (exact.expected_reward_affine(20.0, bias + d, **env.task)[0].item() for d in (h, -h))
    slope = exact.expected_reward_affine(20.0, bias, **env.task)[1].item()
    assert slope == pytest.approx((up - down) / (2 * h), abs=1e-9)


def test_stochastic_portions_give_the_golden_expected_rewards():
    env = pg.HungerBandit(stochastic_portions=True)
    assert exact.expected_reward_affine(20.0, 0.0, **env.task)[0].item() == pytest.approx(
        0.045049, abs=5e-7
    )
    assert exact.expected_reward_affine(20.0, -10.0, **env.task)[0].item() == pytest.approx(
        0.559897, abs=5e-7
    )
    quadrature = env.expected_reward(SameLogits(bias=-10.0, dtype=torch.float64)).item()
    assert quadrature == pytest.approx(0.559897, abs=5e-7)


def test_a_monte_carlo_average_of_rewards_agrees_with_the_exact_j():
    env = pg.HungerBandit(stochastic_portions=True)
    policy = pg.HungerPolicy(bias=-5.0)
    gen = torch.Generator().manual_seed(3)
    n = 400_000
    hunger = env.sample_hunger(n, gen)
    reward = env.reward(hunger, pg.sample_actions(policy.distribution(hunger), gen), gen)
    mean, sem = reward.mean().item(), reward.std().item() / n**0.5
    assert mean == pytest.approx(env.expected_reward(policy).item(), abs=4 * sem)


@pytest.mark.parametrize("stochastic", [False, True])
def test_the_optimal_bias_for_weight_20_is_minus_10(stochastic):
    assert pg.HungerBandit(stochastic_portions=stochastic).optimal_bias(20.0) == pytest.approx(
        -10.0, abs=1e-9
    )


@pytest.mark.parametrize("threshold, weight", [(0.3, 20.0), (0.7, 8.0), (0.5, 3.0)])
def test_the_optimal_bias_is_where_the_derivative_vanishes_and_j_is_highest(threshold, weight):
    env = pg.HungerBandit(threshold=threshold)
    best = env.optimal_bias(weight)
    j, slope = (v.item() for v in exact.expected_reward_affine(weight, best, **env.task))
    assert abs(slope) < 1e-12
    for nudge in (-0.05, 0.05):
        assert exact.expected_reward_affine(weight, best + nudge, **env.task)[0].item() < j


def test_when_j_keeps_rising_the_optimal_bias_is_unbounded():
    assert pg.HungerBandit(threshold=0.0).optimal_bias(20.0) == float("inf")  # always B
    assert pg.HungerBandit(threshold=1.0).optimal_bias(20.0) == float("-inf")  # always A


def test_the_best_reward_is_0_861380_for_the_bias_alone_and_1_for_a_free_policy():
    env = pg.HungerBandit()
    assert env.optimal_reward(pg.HungerPolicy()) == pytest.approx(0.861380, abs=5e-7)
    assert env.optimal_reward(pg.HungerPolicy(train_weight=True)) == 1.0
    assert pg.HungerBandit(stochastic_portions=True).optimal_reward(
        pg.HungerPolicy(train_weight=True)
    ) == pytest.approx(0.65)
