"""Episodic REINFORCE: returns, the loss and its estimator against exact math, and the trainer.

Ground truth comes from `pg.exact` (a linear solve, autograd through it), itself checked here
against a hand-solved MDP and finite differences. The estimates come from the real path:
`pg.collect_episodes` and `pg.episodic_loss`, on Gymnasium's FrozenLake and on small MDPs.
"""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import pg
from pg import episodes, exact
from pg.episodes import collect_episodes, describe_env, make_envs

from conftest import cartpole_policy, read_events, read_scalars
from mdps import TableEnvs, quit_or_go, short_corridor, slippery_chain


def test_reward_to_go_matches_a_hand_computed_example_with_episode_ends_inside_the_batch():
    # two environments over 5 steps, gamma 0.5:
    # env 0: one episode of 2 steps (r 1, 2), then a new one of 3 steps (r 4, 0, 8)
    # env 1: one episode of 5 steps (r 1, 1, 1, 1, 1), cut at the end of the window
    reward = torch.tensor([[1.0, 1.0], [2.0, 1.0], [4.0, 1.0], [0.0, 1.0], [8.0, 1.0]])
    done = torch.tensor([[0, 0], [1, 0], [0, 0], [0, 0], [1, 1]], dtype=torch.bool)
    expected = torch.tensor(
        [
            [1 + 0.5 * 2, 1 + 0.5 + 0.25 + 0.125 + 0.0625],
            [2.0, 1 + 0.5 + 0.25 + 0.125],
            [4 + 0.5 * 0 + 0.25 * 8, 1 + 0.5 + 0.25],
            [0 + 0.5 * 8, 1 + 0.5],
            [8.0, 1.0],
        ]
    )
    torch.testing.assert_close(pg.reward_to_go(reward, done, 0.5), expected)


def test_with_gamma_1_and_no_episode_end_it_is_the_reversed_cumulative_sum():
    reward = torch.rand(7, 3)
    out = pg.reward_to_go(reward, torch.zeros(7, 3, dtype=torch.bool), 1.0)
    torch.testing.assert_close(out, reward.flip(0).cumsum(0).flip(0))


def test_reward_to_go_refuses_mismatched_shapes_and_a_bad_gamma():
    with pytest.raises(pg.UsageError, match=r"both be \(T, N\)"):
        pg.reward_to_go(torch.zeros(5), torch.zeros(5, dtype=torch.bool), 0.9)
    with pytest.raises(pg.UsageError, match=r"gamma must be in \[0, 1\]"):
        pg.reward_to_go(torch.zeros(5, 2), torch.zeros(5, 2, dtype=torch.bool), 1.5)


@pytest.mark.parametrize("returns", [torch.full((6,), 3.0), torch.tensor([42.0]), torch.zeros(1)])
def test_normalisation_of_all_equal_returns_or_a_single_one_gives_finite_zeros(returns):
    out = pg.standardize(returns)
    assert torch.isfinite(out).all()
    assert out.tolist() == [0.0] * len(returns)


def test_normalisation_standardises_with_the_population_std():
    out = pg.standardize(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert out.mean().item() == pytest.approx(0.0, abs=1e-7)
    assert out.std(correction=0).item() == pytest.approx(1.0, abs=1e-6)


def corridor_policy(p_right: float) -> pg.HungerPolicy:
    """One parameter: every corridor state shows the observation 0.0, so p(right) = sigmoid(b)."""
    return pg.HungerPolicy(bias=math.log(p_right / (1 - p_right)), dtype=torch.float64)


def exact_return(
    policy: pg.Policy, mdp: exact.FiniteMDP, gamma: float, horizon=None
) -> torch.Tensor:
    obs = mdp.observations.to(torch.float64)
    probs = exact.action_probabilities(policy.distribution(obs), mdp.transitions.shape[1])
    return exact.expected_return(mdp, probs, gamma, horizon)


def exact_gradient(
    policy: pg.Policy, mdp: exact.FiniteMDP, gamma: float, horizon=None
) -> torch.Tensor:
    params = [p for p in policy.parameters() if p.requires_grad]
    grads = torch.autograd.grad(exact_return(policy, mdp, gamma, horizon), params)
    return torch.cat([g.flatten() for g in grads])


def batch_gradients(
    policy, envs, batches: int, gamma: float, reduction: str, seed: int = 0, baseline=None
):
    """(batches, P) loss gradients, one batch each, through the real collection and loss."""
    params = [p for p in policy.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    envs.reset(seed=seed)
    rows = []
    for _ in range(batches):
        batch = pg.collect_episodes(envs, policy, generator)
        loss = pg.episodic_loss(
            policy, batch, gamma=gamma, loss_reduction=reduction, baseline=baseline
        )
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
    return torch.stack(rows)


def assert_within_4_standard_errors(estimates: torch.Tensor, expected: torch.Tensor) -> None:
    mean = estimates.mean(0)
    error = estimates.std(0) / math.sqrt(len(estimates))
    z = ((mean - expected) / error.clamp_min(1e-12)).abs()
    assert (z < 4).all(), f"mean {mean.tolist()} vs exact {expected.tolist()} (z {z.tolist()})"


@pytest.mark.parametrize("p", [0.2, 0.5, 2 - math.sqrt(2), 0.8])
def test_the_short_corridor_return_matches_its_hand_solved_value(p):
    # v1 = (p - 3) / (p (1 - p)) and v0 = v1 - 1/p from the three Bellman equations, so
    # J = 2 (p - 2) / (p (1 - p)): -11.657 at the best p = 2 - sqrt(2) (Sutton & Barto, 13.1)
    j = exact_return(corridor_policy(p), short_corridor(), gamma=1.0)
    assert j.item() == pytest.approx(2 * (p - 2) / (p * (1 - p)), rel=1e-12)


def test_the_short_corridor_gradient_matches_the_derivative_of_the_hand_solved_return():
    p = 0.3
    policy = corridor_policy(p)
    dj_dp = 2 * (p * (1 - p) - (p - 2) * (1 - 2 * p)) / (p * (1 - p)) ** 2
    (grad,) = exact_gradient(policy, short_corridor(), gamma=1.0).tolist()
    assert grad == pytest.approx(dj_dp * p * (1 - p), rel=1e-10)  # dp/db = p (1 - p)


def frozen_lake_policy(seed: int) -> pg.MLPPolicy:
    torch.manual_seed(seed)
    policy = pg.MLPPolicy(obs_dim=16, hidden=(), num_actions=4).double()
    with torch.no_grad():
        policy.net[0].bias.copy_(torch.tensor([0.0, 1.0, 1.0, 0.0]))  # lean down and right
    return policy


def test_frozen_lake_gradient_by_autograd_matches_finite_differences():
    mdp = exact.FiniteMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    policy = frozen_lake_policy(0)
    grad = exact_gradient(policy, mdp, gamma=0.99, horizon=100)
    flat = torch.nn.utils.parameters_to_vector(policy.parameters()).detach()
    h = 1e-6
    for i in torch.randperm(len(flat), generator=torch.Generator().manual_seed(0))[:12].tolist():
        values = []
        for step in (h, -h):
            nudged = flat.clone()
            nudged[i] += step
            torch.nn.utils.vector_to_parameters(nudged, policy.parameters())
            values.append(exact_return(policy, mdp, 0.99, 100).item())
        torch.nn.utils.vector_to_parameters(flat, policy.parameters())
        assert grad[i].item() == pytest.approx(
            (values[0] - values[1]) / (2 * h), rel=1e-5, abs=1e-10
        )


def test_the_linear_solve_is_the_limit_of_ever_longer_horizons():
    mdp, policy = slippery_chain(), pg.MLPPolicy(obs_dim=4, hidden=(), num_actions=2).double()
    solved = exact_return(policy, mdp, gamma=0.9).item()
    assert exact_return(policy, mdp, 0.9, horizon=2000).item() == pytest.approx(solved, rel=1e-12)
    assert exact_return(policy, mdp, 0.9, horizon=3).item() != pytest.approx(solved, rel=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("p", [0.35, 2 - math.sqrt(2), 0.8])
def test_episode_reduction_averages_to_the_exact_gradient_on_the_short_corridor(p):
    policy, mdp = corridor_policy(p), short_corridor()
    estimates = batch_gradients(policy, TableEnvs(mdp, 256), 60, gamma=1.0, reduction="episode")
    assert_within_4_standard_errors(estimates, -exact_gradient(policy, mdp, gamma=1.0))


@pytest.mark.slow
@pytest.mark.parametrize("gamma", [0.8, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_episode_reduction_averages_to_the_exact_gradient_on_a_slippery_chain(gamma, seed):
    torch.manual_seed(seed)
    policy, mdp = pg.MLPPolicy(obs_dim=4, hidden=(), num_actions=2).double(), slippery_chain()
    estimates = batch_gradients(policy, TableEnvs(mdp, 256, horizon=25), 60, gamma, "episode", seed)
    assert_within_4_standard_errors(estimates, -exact_gradient(policy, mdp, gamma, horizon=25))


class TwoLogitLinear(pg.Policy):
    """A linear head with a logit per action, (N, 2): the usual two-action network."""

    def __init__(self, obs_dim: int):
        super().__init__()
        self.net = torch.nn.Linear(obs_dim, 2)

    def logits(self, obs):
        return self.net(obs)  # (N, 2)


def test_a_two_logit_head_keeps_the_estimator_unbiased_on_the_short_corridor():
    torch.manual_seed(0)
    policy, mdp = TwoLogitLinear(obs_dim=1).double(), short_corridor()
    estimates = batch_gradients(policy, TableEnvs(mdp, 256), 60, gamma=1.0, reduction="episode")
    assert_within_4_standard_errors(estimates, -exact_gradient(policy, mdp, gamma=1.0))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_episode_reduction_averages_to_the_exact_gradient_on_frozen_lake(seed):
    mdp = exact.FiniteMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    policy = frozen_lake_policy(seed)
    envs = episodes.make_envs("FrozenLake-v1", 64)  # the real env, its 100-step time limit
    estimates = batch_gradients(policy, envs, 60, gamma=0.99, reduction="episode", seed=seed)
    envs.close()
    assert_within_4_standard_errors(estimates, -exact_gradient(policy, mdp, 0.99, horizon=100))


@pytest.mark.slow
def test_step_reduction_is_biased_it_can_point_away_from_the_better_action():
    # One decision: quit for 1 now, or go for 2 after 4 steps. dJ/db = p (1 - p) (2 - 1) > 0. With
    # one episode per batch the per-step mean divides by the length, 1 or 4, which the decision
    # itself sets: E[-gradient] = p (1 - p) (2 / 4 - 1) < 0, away from the better action.
    p = 0.5
    policy, mdp = corridor_policy(p), quit_or_go(corridor=3)
    exact_descent = -exact_gradient(policy, mdp, gamma=1.0)
    assert exact_descent.item() == pytest.approx(-p * (1 - p) * (2 - 1), rel=1e-12)
    envs = TableEnvs(mdp, 1)
    episode = batch_gradients(policy, envs, 1500, gamma=1.0, reduction="episode")
    step = batch_gradients(policy, envs, 1500, gamma=1.0, reduction="step", seed=1)
    assert_within_4_standard_errors(episode, exact_descent)
    biased = torch.tensor([-p * (1 - p) * (2 / 4 - 1)], dtype=torch.float64)
    assert_within_4_standard_errors(step, biased)
    assert step.mean() > 8 * step.std() / math.sqrt(len(step))  # the wrong way, clearly


def known_batch() -> pg.Episodes:
    """Two episodes on the corridor's 0.0 observation: A takes right, left (rewards 1, 2); B takes
    right (reward 4) and ends. B's padded step holds junk that must be ignored."""
    obs = torch.zeros(2, 2, 1, dtype=torch.float64)
    action = torch.tensor(
        [[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64
    )  # (T, N); B's step 1 is junk
    reward = torch.tensor([[1.0, 4.0], [2.0, 100.0]], dtype=torch.float64)
    valid = torch.tensor([[True, True], [True, False]])
    done = torch.tensor([[False, True], [True, False]])
    return pg.Episodes(obs, action, reward, valid, done, lengths=[2, 1], returns=[3.0, 4.0])


@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_a_batch_with_more_steps_than_episodes_averages_over_episodes_or_valid_steps(gamma):
    # T = 3 steps, N = 2 episodes: A goes right, left, right (rewards 1, 2, 3); B goes right
    # (reward 4) and ends, its two padded steps junk. Unequal T, N and step count (4) tell the
    # three divisors apart.
    p = 0.7
    lr, ll = math.log(p), math.log(1 - p)
    obs = torch.zeros(3, 2, 1, dtype=torch.float64)
    action = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    reward = torch.tensor([[1.0, 4.0], [2.0, 50.0], [3.0, 70.0]], dtype=torch.float64)
    valid = torch.tensor([[True, True], [True, False], [True, False]])
    done = torch.tensor([[False, True], [False, False], [True, False]])
    batch = pg.Episodes(obs, action, reward, valid, done, lengths=[3, 1], returns=[6.0, 4.0])
    g0, g1, g2 = 1 + gamma * 2 + gamma**2 * 3, 2 + gamma * 3, 3.0  # A's reward-to-go
    episode = -(g0 * lr + gamma * g1 * ll + gamma**2 * g2 * lr + 4 * lr) / 2
    step = -(g0 * lr + g1 * ll + g2 * lr + 4 * lr) / 4
    for reduction, expected in (("episode", episode), ("step", step)):
        loss = pg.episodic_loss(corridor_policy(p), batch, gamma=gamma, loss_reduction=reduction)
        assert loss.item() == pytest.approx(expected, rel=1e-12), reduction


@pytest.mark.parametrize("horizon", [None, 5])
def test_state_values_follow_the_transitions_forward_on_a_hand_solved_chain(horizon):
    # 0 -> 1 (reward 1) -> 2 (reward 10), 2 terminal; the second action is a copy of the first.
    # v(1) = 10, v(0) = 1 + gamma * 10; transitions read backwards would give v(0) = 1.
    p = torch.zeros(3, 2, 3, dtype=torch.float64)
    r = torch.zeros(3, 2, 3, dtype=torch.float64)
    p[0, :, 1], r[0, :, 1] = 1.0, 1.0
    p[1, :, 2], r[1, :, 2] = 1.0, 10.0
    p[2, :, 2] = 1.0
    mdp = exact.FiniteMDP.from_tables(p, r, [1.0, 0.0, 0.0], [False, False, True])
    values = exact.state_values(mdp, torch.full((3, 2), 0.5, dtype=torch.float64), 0.9, horizon)
    assert values.tolist() == pytest.approx([1 + 0.9 * 10, 10.0, 0.0], rel=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_the_loss_of_a_known_batch_follows_the_textbook_formula(gamma):
    p = 0.7
    policy = corridor_policy(p)
    lr, ll = math.log(p), math.log(1 - p)  # log p(right), log p(left)
    g_a0, g_a1, g_b0 = 1 + gamma * 2, 2.0, 4.0  # reward-to-go of each valid step
    episode = (
        -((g_a0 * lr + gamma * g_a1 * ll) + g_b0 * lr) / 2
    )  # sum of gamma^t G_t log p, mean over 2
    step = -(g_a0 * lr + g_a1 * ll + g_b0 * lr) / 3  # mean over the 3 valid steps, no gamma^t
    for reduction, expected in (("episode", episode), ("step", step)):
        loss = pg.episodic_loss(policy, known_batch(), gamma=gamma, loss_reduction=reduction)
        assert loss.item() == pytest.approx(expected, rel=1e-12), reduction


def test_normalised_weights_are_standardised_over_the_valid_steps_only():
    p, gamma = 0.7, 1.0
    policy = corridor_policy(p)
    weights = torch.tensor([3.0, 2.0, 4.0], dtype=torch.float64)  # G of A0, A1, B0
    z = (weights - weights.mean()) / weights.std(correction=0)
    log_p = torch.tensor([math.log(p), math.log(1 - p), math.log(p)], dtype=torch.float64)
    loss = pg.episodic_loss(
        policy, known_batch(), gamma=gamma, loss_reduction="step", normalize_returns=True
    )
    assert loss.item() == pytest.approx(-(z * log_p).mean().item(), rel=1e-6)


def test_an_entropy_bonus_lowers_the_loss_by_its_coefficient_times_the_mean_entropy():
    p = 0.7
    policy = corridor_policy(p)
    entropy = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    plain = pg.episodic_loss(policy, known_batch(), gamma=1.0).item()
    bonus = pg.episodic_loss(policy, known_batch(), gamma=1.0, entropy_coef=0.1).item()
    assert bonus == pytest.approx(plain - 0.1 * entropy, rel=1e-12)


def test_an_unknown_reduction_is_refused():
    with pytest.raises(pg.UsageError, match="loss_reduction must be one of episode, step"):
        pg.episodic_loss(corridor_policy(0.5), known_batch(), gamma=1.0, loss_reduction="sum")


def labelled_batch() -> pg.Episodes:
    """`known_batch`'s episodes, each step's observation naming it: A's steps 1.0 then 3.0, B's
    2.0 (its padding 9.0, which must be ignored)."""
    obs = torch.tensor([[[1.0], [2.0]], [[3.0], [9.0]]], dtype=torch.float64)
    return known_batch()._replace(obs=obs)


class Linear(torch.nn.Module):
    """v(obs) = w * obs + c: a value function whose gradient is easy to write by hand."""

    def __init__(self, w: float, c: float):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.c = torch.nn.Parameter(torch.tensor(c, dtype=torch.float64))

    def forward(self, obs):
        return self.w * obs[:, 0] + self.c


@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_a_baseline_is_subtracted_from_each_step_s_return_and_gets_no_gradient(gamma):
    p = 0.7
    policy = pg.HungerPolicy(weight=0.0, bias=math.log(p / (1 - p)), dtype=torch.float64)
    baseline = Linear(0.5, 0.0)  # b = 0.5, 1.5 for A's steps, 1.0 for B's
    lr, ll = math.log(p), math.log(1 - p)  # log p(right), log p(left)
    a0, a1, b0 = 1 + gamma * 2 - 0.5, 2.0 - 1.5, 4.0 - 1.0  # G_t - b(s_t) of each valid step
    episode = -((a0 * lr + gamma * a1 * ll) + b0 * lr) / 2
    step = -(a0 * lr + a1 * ll + b0 * lr) / 3
    for reduction, expected in (("episode", episode), ("step", step)):
        loss = pg.episodic_loss(
            policy, labelled_batch(), gamma=gamma, loss_reduction=reduction, baseline=baseline
        )
        assert loss.item() == pytest.approx(expected, rel=1e-12), reduction
        loss.backward()
        assert baseline.w.grad is None and baseline.c.grad is None  # data, not a parameter
        assert policy.bias.grad is not None


@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_the_value_loss_is_half_the_squared_error_per_episode_with_the_book_s_gradient(gamma):
    value_fn = Linear(0.3, -0.2)
    obs = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64)  # A0, A1, B0
    returns = torch.tensor([1 + gamma * 2, 2.0, 4.0], dtype=torch.float64)
    values = 0.3 * obs - 0.2
    loss = pg.value_loss(value_fn, labelled_batch(), gamma=gamma)
    assert loss.item() == pytest.approx(0.5 * ((returns - values) ** 2).sum().item() / 2)
    loss.backward()
    # (1/N) sum over the steps of (v(s_t) - G_t) dv/dw, with dv/dw = obs and dv/dc = 1
    assert value_fn.w.grad.item() == pytest.approx(((values - returns) * obs).sum().item() / 2)
    assert value_fn.c.grad.item() == pytest.approx((values - returns).sum().item() / 2)


def test_the_value_loss_uses_returns_it_is_given_in_place_of_computing_them():
    batch = labelled_batch()
    given = torch.zeros_like(batch.reward)  # G_t = 0 everywhere: the loss is 1/2 sum v^2 / N
    values = 0.3 * torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64) - 0.2
    loss = pg.value_loss(Linear(0.3, -0.2), batch, gamma=0.5, returns=given)
    assert loss.item() == pytest.approx(0.5 * (values**2).sum().item() / 2)


def test_a_value_function_of_the_wrong_shape_is_refused_naming_the_shapes():
    with pytest.raises(pg.UsageError, match=r"values of shape \(3,\), got \(3, 1\)"):
        pg.value_loss(lambda obs: obs, labelled_batch(), gamma=1.0)


class FlatLogits(pg.Policy):
    """Two actions, but logits of the wrong shape: (N, 1)."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def logits(self, obs):
        return self.net(obs)


@pytest.mark.parametrize(
    "policy, value, words",
    [
        (FlatLogits, None, r"must return shape \(2,\) or \(2, 2\)"),
        (cartpole_policy, torch.nn.Linear(4, 2), r"values of shape \(2,\), got \(2, 2\)"),
    ],
)
def test_a_policy_or_value_function_that_misfits_the_env_is_refused_before_a_run_folder(
    tmp_path, policy, value, words
):
    settings = {"baseline": value} if value is not None else {}
    with pytest.raises(ValueError, match=words):
        pg.train_episodic(
            policy(), "CartPole-v1", total_steps=100, logdir=str(tmp_path), **settings
        )
    assert list(tmp_path.iterdir()) == []


def test_the_value_mlp_maps_observations_of_any_shape_to_one_value_each():
    assert pg.ValueMLP(4)(torch.zeros(5, 4)).shape == (5,)
    assert pg.ValueMLP(obs_shape=(2, 3), hidden=(8,))(torch.zeros(5, 2, 3)).shape == (5,)
    with pytest.raises(ValueError, match=r"obs must have shape \(N, 4\), got \(5, 3\)"):
        pg.ValueMLP(4)(torch.zeros(5, 3))


def exact_values_baseline(policy: pg.Policy, mdp: exact.FiniteMDP, gamma: float):
    """v_pi of the policy as a baseline: one-hot observations pick their state's value."""
    with torch.no_grad():
        probs = exact.action_probabilities(
            policy.distribution(mdp.observations), mdp.transitions.shape[1]
        )
        values = exact.state_values(mdp, probs, gamma)
    return lambda obs: obs @ values


@pytest.mark.slow
@pytest.mark.parametrize("task", ["slippery chain", "FrozenLake-v1"])
def test_a_state_dependent_baseline_keeps_the_gradient_exact_and_v_pi_cuts_its_variance(task):
    """Any baseline that depends only on the state leaves the expected gradient as it was; the
    exact v_pi also cuts the variance. The same episodes are drawn with and without a baseline
    (the same seeds: the baseline changes no action), so the variances are compared pairwise."""
    torch.manual_seed(0)
    if task == "slippery chain":
        mdp, gamma, horizon = slippery_chain(), 0.9, 25
        policy, envs = pg.MLPPolicy(obs_dim=4, num_actions=2, hidden=()).double(), None
        envs = TableEnvs(mdp, 64, horizon=horizon)
    else:
        mdp, gamma, horizon = exact.FiniteMDP.from_gymnasium(gym.make(task)), 0.99, 100
        policy, envs = frozen_lake_policy(0), episodes.make_envs(task, 64)
    exact_descent = -exact_gradient(policy, mdp, gamma, horizon)
    arbitrary = torch.randn(mdp.observations.shape[1], dtype=torch.float64)
    estimates = {}
    for name, baseline in [
        ("none", None),
        ("arbitrary", lambda obs: obs @ arbitrary),
        ("v_pi", exact_values_baseline(policy, mdp, gamma)),
    ]:
        estimates[name] = batch_gradients(policy, envs, 150, gamma, "episode", baseline=baseline)
        assert_within_4_standard_errors(estimates[name], exact_descent)
    ratio = estimates["v_pi"].var(0).sum() / estimates["none"].var(0).sum()
    assert ratio < {"slippery chain": 0.7, "FrozenLake-v1": 0.92}[task], ratio.item()


def test_the_same_seed_gives_the_same_training_run():
    runs = [
        pg.train_episodic(cartpole_policy(), total_steps=3000, seed=5, logdir=None)
        for _ in range(2)
    ]
    assert runs[0].history == runs[1].history and runs[0].env_steps == runs[1].env_steps


def test_tensorboard_gets_a_point_per_finished_episode_numbered_by_episode(logdir):
    result = pg.train_episodic(
        cartpole_policy(), total_steps=2000, episodes_per_update=8, logdir=str(logdir)
    )
    scalars = read_scalars(result.run_dir)
    returns = scalars["charts/episodic_return"]
    # episodes 1, 2, ..., each its own point, though several end at the same environment step
    assert [s for s, _ in returns] == list(range(1, result.episodes + 1))
    assert [s for s, _ in scalars["charts/episodic_length"]] == list(range(1, result.episodes + 1))
    assert sum(v for _, v in scalars["charts/episodic_length"]) == result.env_steps
    assert all(
        v == length for (_, v), (_, length) in zip(returns, scalars["charts/episodic_length"])
    )
    for tag in ("loss/episodic", "grad/norm", "charts/mean_return_100"):
        assert [s for s, _ in scalars[tag]] == result.history["step"], tag
    assert result.history["step"][-1] == result.env_steps  # the last point: the trained policy
    # the target is a setting, not a curve: a constant card would sit empty in the Time Series
    assert "charts/target_return" not in scalars
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["target"] == "475, the environment's reward threshold"
    histograms = set(read_events(result.run_dir).Tags()["histograms"])
    assert {"params/net.0.weight", "grads/net.0.weight"} <= histograms


def test_weights_and_gradients_get_histograms_at_every_logging_point_of_an_episodic_run(logdir):
    result = pg.train_episodic(
        cartpole_policy(), total_steps=1500, episodes_per_update=2, log_every=3, logdir=str(logdir)
    )
    events = read_events(result.run_dir)
    logged = result.history["step"]  # every 3rd update, and the last
    assert len(logged) >= 5 and logged == [s for s, _ in read_scalars(result.run_dir)["grad/norm"]]
    for tag in ("params/net.0.weight", "grads/net.0.weight", "params/net.2.bias"):
        assert [h.step for h in events.Histograms(tag)] == logged, tag


def test_an_unknown_environment_or_a_mismatched_policy_is_refused_before_training(logdir):
    with pytest.raises(pg.UsageError, match="cannot make environment 'NoSuchEnv-v0'"):
        pg.train_episodic(cartpole_policy(), env_id="NoSuchEnv-v0", logdir=str(logdir))
    with pytest.raises(
        pg.UsageError, match=r"observation space Tuple\(.*is neither a Box nor Discrete"
    ):
        describe_env("Blackjack-v1")
    with pytest.raises(
        pg.UsageError,
        match=r"shape \(4,\) and 2 discrete actions; the policy takes \(1,\) and gives 2 discrete",
    ):
        pg.train_episodic(pg.HungerPolicy(), logdir=str(logdir))
    assert not logdir.exists()


@pytest.mark.slow
def test_a_short_cartpole_run_learns_far_beyond_the_random_policy():
    result = pg.train_episodic(cartpole_policy(seed=2), seed=2, total_steps=20_000, logdir=None)
    assert not result.solved
    first, last = (
        result.history["charts/mean_return_100"][0],
        result.history["charts/mean_return_100"][-1],
    )
    assert first < 40  # an untrained policy: about 22 on average
    assert last > 60 and np.isfinite(result.history["loss/episodic"]).all()


# one SGD step (lr 0.1) on the first episodes of 4 CartPoles seeded 7, which a test redoes by hand
ONE_SGD_UPDATE = {
    "total_steps": 1,
    "episodes_per_update": 4,
    "seed": 7,
    "optimizer": "sgd",
    "lr": 0.1,
}


@pytest.mark.parametrize(
    "settings",
    [
        {"gamma": 0.5, "normalize_returns": False, "loss_reduction": "episode"},
        {"gamma": 0.9, "normalize_returns": True, "loss_reduction": "step", "entropy_coef": 0.1},
    ],
)
def test_one_update_of_the_trainer_is_one_step_down_the_episodic_loss_with_its_settings(settings):
    trained = cartpole_policy(3)
    pg.train_episodic(trained, baseline="none", logdir=None, **ONE_SGD_UPDATE, **settings)

    def by_hand(**loss_settings) -> list[torch.Tensor]:
        policy = cartpole_policy(3)
        envs = make_envs("CartPole-v1", 4)
        envs.reset(seed=7)
        batch = collect_episodes(envs, policy, torch.Generator().manual_seed(7))
        pg.episodic_loss(policy, batch, **loss_settings).backward()
        return [(p - 0.1 * p.grad).detach() for p in policy.parameters()]

    for got, expected in zip(trained.parameters(), by_hand(**settings)):
        assert torch.allclose(got, expected, atol=1e-6)
    others = by_hand(gamma=0.99)  # other settings: a different step, so the settings count
    assert not all(torch.allclose(p, q, atol=1e-6) for p, q in zip(trained.parameters(), others))


@pytest.mark.parametrize("normalize", [False, True])
def test_one_update_with_a_value_baseline_weights_by_the_old_values_then_fits_them(normalize):
    settings = {"loss_reduction": "episode", "normalize_returns": normalize, "gamma": 0.9}
    trained = cartpole_policy(3)  # the trainer builds its ValueMLP next, from the same stream
    value = {"value_lr": 0.01, "value_updates": 3, "value_hidden": (8,)}
    pg.train_episodic(trained, baseline="value", **value, **ONE_SGD_UPDATE, **settings)

    policy = cartpole_policy(3)
    value_fn = pg.ValueMLP(4, hidden=(8,))
    envs = make_envs("CartPole-v1", 4)
    envs.reset(seed=7)
    batch = collect_episodes(envs, policy, torch.Generator().manual_seed(7))
    pg.episodic_loss(policy, batch, baseline=value_fn, **settings).backward()  # the old values
    value_optimizer = torch.optim.Adam(value_fn.parameters(), lr=0.01)
    for _ in range(3):  # then the value function learns from the batch
        value_optimizer.zero_grad()
        pg.value_loss(value_fn, batch, gamma=0.9).backward()
        value_optimizer.step()
    for got, p in zip(trained.parameters(), policy.parameters()):
        assert torch.allclose(got, p - 0.1 * p.grad, atol=1e-6)
    without = cartpole_policy(3)
    pg.episodic_loss(without, batch, **settings).backward()  # the baseline moved the step
    moved = [p - 0.1 * p.grad for p in without.parameters()]
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(trained.parameters(), moved))


def test_a_value_baseline_is_logged_and_a_module_of_your_own_learns_as_one(logdir):
    class Own(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def forward(self, obs):
            return self.layer(obs).squeeze(-1)

    own = Own()
    before = own.layer.weight.detach().clone()
    result = pg.train_episodic(
        cartpole_policy(),
        total_steps=1500,
        episodes_per_update=8,
        baseline=own,
        logdir=str(logdir),
    )
    assert not torch.equal(own.layer.weight, before)  # it learned
    scalars = read_scalars(result.run_dir)
    assert [s for s, _ in scalars["loss/value"]] == result.history["step"]
    assert all(v <= 1 for _, v in scalars["value/explained_variance"])
    assert {"params/value.layer.weight", "grads/value.layer.weight"} <= set(
        read_events(result.run_dir).Tags()["histograms"]
    )
    assert json.loads((result.run_dir / "config.json").read_text())["baseline"] == "value"
    assert isinstance(pg.load_policy(result.run_dir), pg.MLPPolicy)  # the policy alone


def test_a_value_function_whose_gradient_is_not_finite_stops_training_naming_it():
    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Parameter(torch.zeros(()))

        def forward(self, obs):  # values 0, but d sqrt(0 * c) / dc is not finite
            return torch.sqrt(self.c * 0.0).expand(len(obs))

    with pytest.raises(pg.NonFiniteError, match=r"non-finite gradient of value.c at step \d+"):
        pg.train_episodic(cartpole_policy(), total_steps=100, baseline=Broken())


def test_each_episode_gets_the_next_number_in_the_order_the_episodes_ended():
    # four environments stepping together after 10 earlier episodes, episodes of 3, 1, 3 and 2
    # steps: the 1-step one ended first (episode 11), then the 2-step one (12), then the two
    # 3-step ones, which ended at the same step, in environment order (13, 14). By hand.
    from types import SimpleNamespace

    from pg.episodic import _log_episodes

    logged = []
    run = SimpleNamespace(log_at=lambda step, values: logged.append((step, values)))
    _log_episodes(run, 10, np.array([3, 1, 3, 2]), np.array([30.0, 10.0, 31.0, 20.0]))
    assert [(s, v["charts/episodic_return"], v["charts/episodic_length"]) for s, v in logged] == [
        (11, 10.0, 1),
        (12, 20.0, 2),
        (13, 30.0, 3),
        (14, 31.0, 3),
    ]


def test_a_run_whose_update_could_not_fit_in_memory_is_refused_before_it_starts(
    tmp_path, monkeypatch
):
    page, pages = 4096, 4 * 2**30 // 4096  # a machine of 4 GiB
    monkeypatch.setattr("pg.episodic.os.sysconf", lambda name: page if "SIZE" in name else pages)
    wide = pg.MLPPolicy(4, 2, hidden=(4096,))
    # 256 CartPoles of up to 500 steps: 128,000 steps x (4 + 4,097 + 129) wide x 12 bytes
    with pytest.raises(pg.UsageError, match="about 6 GiB, more than half of this machine's 4 GiB"):
        pg.train_episodic(wide, episodes_per_update=256, logdir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    result = pg.train_episodic(cartpole_policy(), total_steps=200, logdir=None)  # the defaults fit
    assert result.env_steps >= 200
