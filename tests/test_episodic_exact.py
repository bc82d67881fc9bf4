"""The episodic estimator against exact math: J of finite MDPs, gradients averaging to -dJ/dθ.

Ground truth comes from `pg.exact` (a linear solve, autograd through it), itself checked here
against a hand-solved MDP and finite differences. The estimates come from the real path:
`pg.collect_episodes` and `pg.episodic_loss`, on Gymnasium's FrozenLake and on small MDPs.
"""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
import torch

import pg
from pg import episodes, exact

from mdps import TableEnvs, quit_or_go, short_corridor, slippery_chain


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


def batch_gradients(policy, envs, batches: int, gamma: float, reduction: str, seed: int = 0):
    """(batches, P) loss gradients, one batch each, through the real collection and loss."""
    params = [p for p in policy.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    envs.reset(seed=seed)
    rows = []
    for _ in range(batches):
        batch = pg.collect_episodes(envs, policy, generator)
        loss = pg.episodic_loss(policy, batch, gamma=gamma, loss_reduction=reduction)
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
    return torch.stack(rows)


def assert_within_4_standard_errors(estimates: torch.Tensor, expected: torch.Tensor) -> None:
    mean = estimates.mean(0)
    error = estimates.std(0) / math.sqrt(len(estimates))
    z = ((mean - expected) / error.clamp_min(1e-12)).abs()
    assert (z < 4).all(), f"mean {mean.tolist()} vs exact {expected.tolist()} (z {z.tolist()})"


# --- the exact math itself ----------------------------------------------------------------------


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


# --- the estimator against it ---------------------------------------------------------------------


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


# --- the loss of a known batch
# ----------------------------------------------------------------------


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
