"""The REINFORCE gradient is an unbiased guess of the exact one, and what a baseline does to it.

Exact derivatives come from the closed form in pg.exact; the estimates come from the real path:
HungerPolicy.distribution -> sample_actions -> HungerBandit.reward -> reinforce_loss -> backward.
"""

from __future__ import annotations

import pytest
import torch

import pg
from pg.reinforce import single_sample_gradients

BATCHES, BATCH = 400, 500  # 200,000 single-sample guesses per case, averaged 500 at a time


def batch_gradients(bias: float, env: pg.HungerBandit, baseline: str, seed: int) -> torch.Tensor:
    """(BATCHES,) gradients of reinforce_loss w.r.t. the bias, one per independent batch.

    reinforce_loss is a mean, so each is the mean of BATCH single-sample gradients, and their
    mean is the mean of all BATCHES x BATCH single-sample gradients.
    """
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    exact_j = env.expected_reward(policy)
    running = pg.MeanBaseline()
    grads = []
    for _ in range(BATCHES):
        hunger = env.sample_hunger(BATCH, gen, torch.float64)
        dist = policy.distribution(hunger)
        action = pg.sample_actions(dist, gen)
        reward = env.reward(hunger, action, gen)
        b = {
            "none": None,
            "exact J": exact_j,
            "running mean": running.value,
            "uses this batch's actions": reward * action,
        }[baseline]
        policy.zero_grad()
        pg.reinforce_loss(dist.log_prob(action), reward, b).backward()
        grads.append(policy.bias.grad.item())
        running.update(reward)
    return torch.tensor(grads, dtype=torch.float64)


@pytest.mark.parametrize("baseline", ["none", "exact J", "running mean"])
@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("bias", [0.0, -5.0, -12.0])
def test_the_mean_reinforce_gradient_matches_minus_the_exact_dj_db_within_4_standard_errors(
    bias, stochastic, baseline
):
    env = pg.HungerBandit(stochastic_portions=stochastic)
    grads = batch_gradients(bias, env, baseline, seed=11)
    exact = -env.expected_reward_grad_bias(pg.HungerPolicy(bias=bias, dtype=torch.float64)).item()
    sem = grads.std().item() / len(grads) ** 0.5
    assert abs(grads.mean().item() - exact) < 4 * sem
    assert sem < 0.1 * abs(exact)  # and the test is sharp enough to see a 40% bias


def test_a_baseline_that_depends_on_this_batch_s_actions_is_caught_as_biased():
    # the control that shows the test above can fail: subtracting reward * action zeroes the
    # advantage of every Place B choice, and the estimate no longer matches -dJ/db
    env = pg.HungerBandit()
    grads = batch_gradients(-5.0, env, "uses this batch's actions", seed=11)
    exact = -env.expected_reward_grad_bias(pg.HungerPolicy(bias=-5.0, dtype=torch.float64)).item()
    assert abs(grads.mean().item() - exact) > 10 * grads.std().item() / len(grads) ** 0.5


@pytest.mark.parametrize("baseline", [0.0, 0.7])
def test_each_single_sample_guess_is_minus_the_gradient_of_reinforce_loss_on_that_round_alone(
    baseline,
):
    env = pg.HungerBandit(stochastic_portions=True)
    policy = pg.HungerPolicy(bias=-3.0, dtype=torch.float64)
    guesses = single_sample_gradients(
        policy, env, 12, torch.Generator().manual_seed(8), baseline=baseline
    )
    gen = torch.Generator().manual_seed(8)  # replay the same draws, one round at a time
    hunger = env.sample_hunger(12, gen, torch.float64)
    action = pg.sample_actions(policy.distribution(hunger), gen)
    reward = env.reward(hunger, action, gen)
    for i in range(12):
        policy.zero_grad()
        dist = policy.distribution(hunger[i : i + 1])
        pg.reinforce_loss(dist.log_prob(action[i : i + 1]), reward[i : i + 1], baseline).backward()
        assert guesses[i].item() == pytest.approx(-policy.bias.grad.item(), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("bias", [0.0, -5.0, -10.0, -12.0])
def test_single_sample_guesses_average_to_the_exact_derivative(bias):
    env = pg.HungerBandit()
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    guesses = single_sample_gradients(policy, env, 200_000, torch.Generator().manual_seed(2))
    exact = env.expected_reward_grad_bias(policy).item()
    assert abs(guesses.mean().item() - exact) < 4 * guesses.std().item() / len(guesses) ** 0.5
    assert guesses.std().item() > 2 * abs(exact)  # one guess alone is mostly noise


def variance_ratio(bias: float, env: pg.HungerBandit) -> float:
    """Var(single-sample guess with baseline = exact J) / Var(without), 200,000 guesses each."""
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    j = env.expected_reward(policy).item()
    plain = single_sample_gradients(policy, env, 200_000, torch.Generator().manual_seed(4))
    based = single_sample_gradients(
        policy, env, 200_000, torch.Generator().manual_seed(4), baseline=j
    )
    return (based.var() / plain.var()).item()


def test_a_mean_reward_baseline_cuts_the_variance_when_rewards_sit_far_from_zero():
    # +1 / 0 rewards: without a baseline every sampled action is pushed up; at bias 0 (J = 0.53)
    # subtracting J cuts the variance to about 0.29 of it (exact: 0.288); near the optimum it
    # raises it, as with +1 / -1 rewards (exact: 2.603)
    env = pg.HungerBandit(reward_good=1.0, reward_bad=0.0)
    assert variance_ratio(0.0, env) == pytest.approx(0.288, abs=0.03)
    assert variance_ratio(-10.0, env) == pytest.approx(2.603, abs=0.1)


def test_with_plus_minus_1_rewards_the_baseline_helps_little_at_the_start_and_hurts_near_the_optimum():  # noqa: E501
    env = pg.HungerBandit()
    assert variance_ratio(0.0, env) == pytest.approx(
        0.928, abs=0.03
    )  # J = 0.07: little to subtract
    assert variance_ratio(-10.0, env) == pytest.approx(
        2.603, abs=0.1
    )  # J = 0.86: the wrong constant


@pytest.mark.parametrize("bias", [0.0, -5.0, -12.0])
def test_one_small_descent_step_on_the_loss_raises_the_exact_expected_reward(bias):
    env = pg.HungerBandit()
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    before = env.expected_reward(policy).item()
    gen = torch.Generator().manual_seed(0)
    hunger = env.sample_hunger(200_000, gen, torch.float64)
    dist = policy.distribution(hunger)
    action = pg.sample_actions(dist, gen)
    pg.reinforce_loss(dist.log_prob(action), env.reward(hunger, action)).backward()
    with torch.no_grad():
        policy.bias -= 0.5 * policy.bias.grad  # descend the loss
    assert env.expected_reward(policy).item() > before
